import { didYouMean } from "../utils/strings.js";
import { describeValue } from "./spaces.js";

/** A kwarg an env does not take, or of the wrong type: a user's mistake, its message complete (one line). */
class EnvKwargsError extends TypeError {
  override name = "EnvKwargsError";
}

/**
 * For factories: returns `defaults` overridden by `kwargs`, rejecting a key `defaults` lacks and a value
 * whose type differs from its default's (defaults of `undefined` accept anything), with messages naming
 * the owner, the key and the accepted keys.
 */
export function parseKwargs<T extends Record<string, unknown>>(
  owner: string,
  kwargs: Record<string, unknown>,
  defaults: T,
): T {
  const accepted = Object.keys(defaults);
  for (const [key, value] of Object.entries(kwargs)) {
    if (!Object.hasOwn(defaults, key)) {
      const hint = didYouMean(key, accepted);
      const list = accepted.length > 0 ? accepted.join(", ") : "none";
      throw new EnvKwargsError(`${owner}: unknown kwarg "${key}"${hint}; accepted kwargs: ${list}`);
    }
    const expected = defaults[key];
    const wrongType =
      typeof value !== typeof expected || (typeof value === "number" && !Number.isFinite(value));
    if (expected !== undefined && value !== undefined && wrongType) {
      throw new EnvKwargsError(
        `${owner}: kwarg "${key}" must be a ${typeof expected === "number" ? "finite number" : typeof expected} (default ${describeValue(expected)}), got ${describeValue(value)}`,
      );
    }
  }
  return { ...defaults, ...kwargs };
}
