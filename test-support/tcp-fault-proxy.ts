/**
 * A loopback TCP proxy whose traffic a test can cut and restore: while cut, open connections are
 * reset and new ones are reset as they arrive, as a client sees a server that went away. For servers
 * that cannot be restarted without losing their state (moto keeps everything in memory), the proxy
 * makes them unreachable instead.
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface TcpFaultProxyStats {
  /** Connections passed on to the target. */
  forwarded: number;
  /** Connections reset because traffic was cut (open ones at the cut, and new ones while cut). */
  reset: number;
}

export interface TcpFaultProxy {
  /** http://127.0.0.1:<port>, for clients of an HTTP target. */
  url: string;
  stats: TcpFaultProxyStats;
  readonly isCut: boolean;
  /** Resets every open connection and every new one until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpFaultProxy(options: { target: string }): Promise<TcpFaultProxy> {
  const target = new URL(options.target);
  const targetPort = Number(target.port);
  if (!targetPort) throw new Error(`the TCP fault proxy needs a target with a port, not ${options.target}`);
  const stats: TcpFaultProxyStats = { forwarded: 0, reset: 0 };
  const open = new Set<{ client: Socket; upstream: Socket }>();
  let cut = false;

  const reset = (client: Socket) => {
    stats.reset++;
    // An RST, not a FIN: the client sees the connection fail, not a short answer.
    client.resetAndDestroy();
  };

  const server = net.createServer((client) => {
    if (cut) {
      reset(client);
      return;
    }
    stats.forwarded++;
    const upstream = net.connect({ host: target.hostname, port: targetPort });
    const pair = { client, upstream };
    open.add(pair);
    const drop = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const pair of [...open]) {
        open.delete(pair);
        reset(pair.client);
        pair.upstream.destroy();
      }
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const { client, upstream } of open) {
          client.destroy();
          upstream.destroy();
        }
        open.clear();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
