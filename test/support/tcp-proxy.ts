// A TCP proxy on 127.0.0.1 in front of one PostgreSQL server, to give a gate an outage without
// touching the shared test cluster: `cut` is a stopped server (live connections reset, new ones
// refused), `freeze` a stopped process (connections stay open, nothing is answered: SIGSTOP), and
// `restore` brings it back; data held during a freeze is then delivered, as after SIGCONT.
import net from 'node:net';

export type ProxyState = 'open' | 'down' | 'frozen';

export interface TcpProxy {
  readonly port: number;
  readonly state: ProxyState;
  /** `url` with its host and port pointed at this proxy. */
  via(url: string): string;
  cut(): Promise<void>;
  freeze(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let state: ProxyState = 'open';
  const pairs = new Set<Pair>();

  const link = (pair: Pair) => {
    const upstream = (pair.upstream ??= net.connect(target));
    upstream.on('error', () => pair.client.destroy());
    upstream.on('close', () => {
      pair.client.destroy();
      pairs.delete(pair);
    });
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
  };

  const onConnection = (client: net.Socket) => {
    const pair: Pair = { client };
    pairs.add(pair);
    client.on('error', () => pair.upstream?.destroy());
    client.on('close', () => {
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    // A frozen server's kernel still accepts the connection; nothing more happens until it thaws.
    if (state === 'frozen') client.pause();
    else link(pair);
  };

  const listen = async (port: number) => {
    const server = net.createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return server;
  };

  let server: net.Server | undefined = await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  const stopListening = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  const destroyAll = () => {
    for (const p of pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    get state() {
      return state;
    },
    via(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async cut() {
      state = 'down';
      const closed = stopListening();
      destroyAll();
      await closed;
    },
    freeze() {
      state = 'frozen';
      for (const p of pairs) {
        p.client.unpipe();
        p.upstream?.unpipe();
        p.client.pause();
        p.upstream?.pause();
      }
    },
    async restore() {
      if (state === 'down') server = await listen(port);
      if (state === 'frozen') {
        for (const p of pairs) {
          if (p.upstream) {
            p.client.pipe(p.upstream);
            p.upstream.pipe(p.client);
          } else link(p);
        }
      }
      state = 'open';
    },
    async close() {
      state = 'down';
      const closed = stopListening();
      destroyAll();
      await closed;
    },
  };
}
