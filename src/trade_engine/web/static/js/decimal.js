// Decimal strings, exactly: the API's amounts are decimal strings, and the page never
// does arithmetic on them with JavaScript numbers (which would round). These helpers
// compare, add, subtract and multiply them as BigInt units with a scale.
// (Charts are the one place amounts become numbers: for plotting only.)

const PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;

export function isDecimal(text) {
  return typeof text === "string" && PATTERN.test(text);
}

function parse(text) {
  const match = PATTERN.exec(text);
  if (match === null) throw new TypeError(`not a decimal string: ${JSON.stringify(text)}`);
  const fraction = match[3] ?? "";
  const units = BigInt(match[2] + fraction);
  return { units: match[1] ? -units : units, scale: fraction.length };
}

function aligned(a, b) {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * 10n ** BigInt(scale - a.scale), b.units * 10n ** BigInt(scale - b.scale), scale];
}

function format(units, scale) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, "0");
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

/** -1, 0 or 1 as a is less than, equal to or greater than b ("1.50" equals "1.5"). */
export function compare(a, b) {
  const [x, y] = aligned(parse(a), parse(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

/** a + b, with the larger of their scales. */
export function add(a, b) {
  const [x, y, scale] = aligned(parse(a), parse(b));
  return format(x + y, scale);
}

/** a - b, with the larger of their scales. */
export function subtract(a, b) {
  const [x, y, scale] = aligned(parse(a), parse(b));
  return format(x - y, scale);
}

/** a × b, exact (the scales add up). */
export function multiply(a, b) {
  const x = parse(a);
  const y = parse(b);
  return format(x.units * y.units, x.scale + y.scale);
}

/** The sum of a list of decimal strings ("0" for none). */
export function sum(values) {
  return values.reduce((total, value) => add(total, value), "0");
}

export function isZero(a) {
  return parse(a).units === 0n;
}

/** a with `scale` decimal places, cut toward zero (for showing a product). */
export function truncate(a, scale) {
  const x = parse(a);
  if (x.scale <= scale) return format(x.units * 10n ** BigInt(scale - x.scale), scale);
  return format(x.units / 10n ** BigInt(x.scale - scale), scale); // BigInt division truncates
}

/** The number of decimal places of a decimal string ("0.010" has 3). */
export function places(a) {
  return parse(a).scale;
}

/** For charts only: an approximate number to plot. */
export function toNumber(a) {
  return Number(a);
}
