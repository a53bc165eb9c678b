/** The diagnostic bundle's YAML writer (activities/diagnostics/yaml.ts): what it writes reads back as the data. */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { toYamlText } from '../../activities/diagnostics/yaml';

describe('YAML writer', () => {
  it('writes YAML that reads back as exactly the data it was given, whatever the strings hold', () => {
    // Strings that YAML could read as something else, or that need quoting, blocks or escapes.
    const tricky = ['true', 'False', 'null', '~', 'yes', 'NO', 'on', 'y', '1.5', '0x1F', '0o7', '1e3', '.inf', '-.inf', '.nan', '007', '3_000', '+1', '1:20',
      '2026-01-01', '2026-11-29T06:00:00Z', '', ' ', 'a  b', 'a: b', 'a:b', 'http://x/y', '100m', '-', '- a', '<<', '#x', 'x #y', '[REDACTED]',
      'line1\nline2\n', 'a\n\nb', 'foo\n\n', '\n', '\nfoo', '\n  foo', 'a\n b', 'a\n  \nb', '  lead', 'trail ', 'tab\there', 'cr\r\nlf', '\u0001', '\u2028', 'é日本', '\\"\''];
    const alphabet = [...'abZ019 :#-\n\t"\'./@&*!|>[]{},%?~é\r\\e_=+', '\u0001'];
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const text = () => (random(3) === 0 ? tricky[random(tricky.length)]! : Array.from({ length: random(12) }, () => alphabet[random(alphabet.length)]).join(''));
    const value = (depth: number): unknown => {
      switch (random(depth > 3 ? 5 : 8)) {
        case 0: case 4: return text();
        case 1: return random(2) ? random(1000) - 500 : (random(1000) - 500) / 7;
        case 2: return random(2) === 1;
        case 3: return null;
        case 5: return Array.from({ length: random(4) }, () => value(depth + 1));
        default: return Object.fromEntries(Array.from({ length: random(4) }, () => [text(), value(depth + 1)]));
      }
    };
    const cases = [...tricky.map((t) => ({ [t]: [t, { [t]: t }] })), ...Array.from({ length: 3000 }, () => value(0))];
    for (const data of cases) expect(parse(toYamlText(data)), toYamlText(data)).toEqual(data);
    // Dates (the Kubernetes client's timestamps) as ISO text; undefined fields left out.
    expect(parse(toYamlText({ at: new Date(0), gone: undefined, empty: {}, none: [] }))).toEqual({ at: '1970-01-01T00:00:00.000Z', empty: {}, none: [] });
  });
});
