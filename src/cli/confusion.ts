// The confusion matrix as a table: rows the true class, columns the predicted one, headed by the
// class names (cut to the column width), each row's recall at its end.

/** `confusion[t][p]` counts samples of true class t predicted as p. */
export function formatConfusion(confusion: readonly (readonly number[])[], classes: readonly string[]): string {
  const C = confusion.length;
  const names = Array.from({ length: C }, (_, i) => classes[i] ?? String(i));
  const width = Math.max(5, ...confusion.flat().map((n) => String(n).length));
  const rowHead = Math.max(...names.map((n) => n.length), 'true \\ predicted'.length);
  const cell = (s: string) => s.slice(0, width).padStart(width);
  const lines = [
    'confusion matrix (rows: true class, columns: predicted class)',
    `${'true \\ predicted'.padEnd(rowHead)} ${names.map(cell).join(' ')}  recall`,
  ];
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    const recall = total ? `${((100 * row[t]) / total).toFixed(1)}%` : '-';
    lines.push(`${names[t].padEnd(rowHead)} ${row.map((n) => cell(String(n))).join(' ')}  ${recall.padStart(6)}`);
  });
  return lines.join('\n');
}
