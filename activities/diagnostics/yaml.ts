/**
 * The diagnostic bundle's YAML writer: JSON-shaped data (what the Kubernetes API returns) as YAML in
 * kubectl's layout. Kept instead of the `yaml` package's stringify (the package parses the
 * receiver's rules and, in tests, reads these files back) because it is several times faster on what the collectors write, and YAML is most of a collector's
 * time: `bench/yaml-writer.ts` (a List of 200 pods, 750 KiB; 2 cores at load 11-13) measured ours at
 * 102-146 ms, `stringify` at 385-537 ms (3.7x).
 */

/**
 * YAML of JSON-shaped data, in kubectl's layout; plain string work. A string that could read as
 * anything but itself (number, boolean, null, date, indicator) is written JSON-quoted, which YAML
 * reads as the same string; multi-line text becomes a literal block.
 */
export function toYamlText(value: unknown): string {
  if (!isCollection(value)) return inline(value, '') + '\n';
  const out: string[] = [];
  writeCollection(out, value, '');
  return out.join('\n') + '\n';
}

// Conservative: letters, digits and a few punctuation marks; ": " and " #" can never occur.
const PLAIN = /^[A-Za-z0-9_/][\w./@=+,()-]*(?:[ :][\w./@=+,()-]+)*$/;
const AMBIGUOUS = /^(?:~|null|true|false|yes|no|on|off|y|n|[-+]?\.?\d[\d_.:eE+-]*|0[xob].*|\d{4}-\d\d?-\d\d?.*)$/i;
const BLOCK_UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]/;

type Collection = Record<string, unknown> | unknown[];

function isCollection(value: unknown): value is Collection {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && typeof value === 'object' && !(value instanceof Date) && Object.values(value).some((v) => v !== undefined);
}

function quoted(text: string): string {
  return text !== '' && PLAIN.test(text) && !AMBIGUOUS.test(text) ? text : JSON.stringify(text);
}

/** A scalar or an empty collection on the line it starts; a multi-line string as a literal block below it. */
function inline(value: unknown, indent: string): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'object') return '{}';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'string') return 'null'; // functions and symbols are not data
  const lines = value.split('\n');
  // A literal block keeps every character, as long as no line could read as indentation or as the
  // block's end: the first non-empty line starts with no blank, no line is only blanks, and there is
  // at most one final newline (clip) or none (strip).
  const first = lines.find((l) => l !== '') ?? '';
  if (lines.length > 1 && first !== '' && !BLOCK_UNSAFE.test(value) && !/^\s/.test(first) && !value.endsWith('\n\n') && !lines.some((l) => l !== '' && l.trim() === '')) {
    const body = value.endsWith('\n') ? lines.slice(0, -1) : lines;
    return `${value.endsWith('\n') ? '|' : '|-'}\n${body.map((l) => (l === '' ? '' : `${indent}  ${l}`)).join('\n')}`;
  }
  return quoted(value);
}

/**
 * Writes the lines of a non-empty map or sequence at `indent`; `lead` replaces the first line's
 * indentation, so a sequence item's first line shares the dash's line ("- name: x").
 */
function writeCollection(out: string[], value: Collection, indent: string, lead = indent): void {
  let prefix = lead;
  const line = (text: string) => {
    const start = prefix;
    prefix = indent;
    return start + text;
  };
  if (Array.isArray(value)) {
    for (const child of value) {
      if (isCollection(child)) writeCollection(out, child, `${indent}  `, line('- '));
      else out.push(line(`- ${inline(child, indent)}`));
    }
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    if (!isCollection(child)) {
      out.push(line(`${quoted(key)}: ${inline(child, indent)}`));
      continue;
    }
    out.push(line(`${quoted(key)}:`));
    writeCollection(out, child, `${indent}  `);
  }
}

