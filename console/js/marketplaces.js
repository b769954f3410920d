// The marketplaces a merchant can set up, as the API lists them (GET /integrations): read once per
// page load and shared by every screen that offers a marketplace (a filter, a tab, a suggestion).
import { api } from "./api.js";

let list = null;

export function marketplaces() {
  list ||= api.get("/integrations").then(
    (answer) => answer.marketplaces,
    (err) => {
      list = null; // a failed read is tried again by the next screen
      throw err;
    },
  );
  return list;
}
