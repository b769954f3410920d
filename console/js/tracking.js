// Tracking numbers in the browser: the one place the console checks a number as it is typed.
// The rule is the API's (layers/shared/orderhub/domain/tracking.py: normalize_number, then a
// fullmatch of one of the carrier's patterns), applied with the data GET /carriers publishes:
// {carriers: [{code, name, patterns, format}], number_rule: {remove, upper_case, max_chars}}.
// This is advice while typing; the API checks again on submit and its answer is what counts.
import { api } from "./api.js";

let carriersPromise = null;

/** GET /carriers, fetched once per page load (a failed fetch is tried again on the next call). */
export function carriers() {
  if (!carriersPromise) {
    carriersPromise = api.get("/carriers");
    carriersPromise.catch(() => (carriersPromise = null));
  }
  return carriersPromise;
}

/** The carrier `code` of GET /carriers' data, or undefined. */
export function carrierOf(data, code) {
  return ((data && data.carriers) || []).find((c) => c.code === code);
}

/** A carrier's display name; its code when the data is not loaded or does not know it. */
export function carrierName(data, code) {
  return carrierOf(data, code)?.name || code || "";
}

/**
 * A pattern as the API matches it: anchored (fullmatch), and with Python's `\d` on text (any
 * Unicode decimal digit) as `\p{Nd}`. null when it does not compile (the pattern is skipped).
 */
export function compilePattern(p) {
  try {
    return new RegExp(`^(?:${p.replace(/\\d/g, "\\p{Nd}")})$`, "u");
  } catch {
    try {
      return new RegExp(`^(?:${p})$`);
    } catch {
      return null;
    }
  }
}

// Compiled once per carrier / rule object of the data (a check runs on every keystroke).
const compiledPatterns = new WeakMap();
const compiledRemove = new WeakMap();

function patternsOf(carrier) {
  let regexes = compiledPatterns.get(carrier);
  if (!regexes) {
    regexes = (carrier.patterns || []).map(compilePattern).filter(Boolean);
    compiledPatterns.set(carrier, regexes);
  }
  return regexes;
}

function removeOf(rule) {
  if (!rule.remove) return null;
  if (!compiledRemove.has(rule)) {
    let re = null;
    try {
      re = new RegExp(rule.remove, "g");
    } catch {
      re = null;
    }
    compiledRemove.set(rule, re);
  }
  return compiledRemove.get(rule);
}

/**
 * A typed number checked against the carrier `carrierCode` with GET /carriers' `data`:
 * {state, normalized, format, max}, state being
 *   "empty"      nothing but blanks typed;
 *   "too_long"   longer than number_rule.max_chars (counted in characters, as Python's len);
 *   "no_carrier" no carrier chosen, or one the data does not know;
 *   "ok" / "bad" the normalized number matches one of the carrier's patterns, or none.
 * `normalized` is the number as the API would store it (separators removed, upper case), null
 * when empty or too long; `format` is the carrier's format, when there is a carrier.
 */
export function checkNumber(data, carrierCode, raw) {
  const text = String(raw ?? "");
  const rule = (data && data.number_rule) || {};
  const carrier = carrierOf(data, carrierCode);
  const format = carrier ? carrier.format : undefined;
  if (!text.trim()) return { state: "empty", normalized: null, format };
  if (rule.max_chars && [...text].length > rule.max_chars) return { state: "too_long", normalized: null, format, max: rule.max_chars };
  const remove = removeOf(rule);
  let normalized = remove ? text.replace(remove, "") : text;
  if (rule.upper_case) normalized = normalized.toUpperCase();
  if (!carrier) return { state: "no_carrier", normalized, format };
  return { state: patternsOf(carrier).some((r) => r.test(normalized)) ? "ok" : "bad", normalized, format };
}
