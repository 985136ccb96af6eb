// Log lines leave in one write per event-loop turn instead of one each: stdout to a pipe or a file
// is synchronous on Linux, so a request log line per request was a write(2) per request under
// load. A line waits at most until the current turn ends; 'exit' flushes what is left.
export function batchedStdout(out: NodeJS.WriteStream = process.stdout): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = `${pending.join('\n')}\n`;
    pending = [];
    out.write(text);
  };
  process.on('exit', flush);
  return (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
