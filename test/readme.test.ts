// The README's performance section is generated from a benchmark run (scripts/readme-bench.mjs):
// the block between its markers must be exactly the report.md of the run it names.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';

describe('README', () => {
  test('the performance section is the named run\'s report.md, unedited', () => {
    const readme = readFileSync('README.md', 'utf8');
    const m = /<!-- bench:begin (\S+) -->\n([\s\S]*?)\n<!-- bench:end -->/.exec(readme);
    expect(m, 'README.md has a generated bench block').not.toBeNull();
    const [, path, block] = m!;
    expect(existsSync(path), `${path} exists`).toBe(true);
    expect(block).toBe(readFileSync(path, 'utf8').trim());
    expect(block).toMatch(/^Device: /);
  });
});
