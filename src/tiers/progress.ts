// Progress of a long load on a terminal: rows done, rate and time left, rewritten in place on a
// TTY, one line per step elsewhere (logs, a parent process reading the pipe).
export function progressPrinter(label: string, out: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  const started = performance.now();
  let lastLine = 0;
  return (done, total) => {
    const now = performance.now();
    const tty = out.isTTY === true;
    if (tty && now - lastLine < 200 && done < total) return;
    lastLine = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const left = rate > 0 ? Math.max(0, (total - done) / rate) : Number.NaN;
    const line = `${label}: ${done.toLocaleString('en')} / ${total.toLocaleString('en')} rows, ${Math.round(rate).toLocaleString('en')} rows/s, ${Number.isFinite(left) ? `${Math.ceil(left)} s left` : 'time left unknown'}`;
    out.write(tty ? `\r${line}\x1b[K${done >= total ? '\n' : ''}` : `${line}\n`);
  };
}
