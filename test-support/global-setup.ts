/**
 * Integration tests need the real local stack. If it is not there, fail at once with the fix,
 * rather than letting every test time out or skip.
 */
import net from 'node:net';

const REQUIRED = ['TEMPORAL_ADDRESS', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB'] as const;

function reachable(hostPort: string): Promise<boolean> {
  const url = hostPort.includes('://') ? new URL(hostPort) : new URL(`tcp://${hostPort}`);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export default async function setup(): Promise<void> {
  const missing = REQUIRED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not set: run the tests with \`make test\`, which starts the test stack`);
  }
  for (const name of REQUIRED) {
    const address = process.env[name] as string;
    if (!(await reachable(address))) {
      throw new Error(`${name}=${address} is not reachable: is the test stack up? (\`make test\` starts it)`);
    }
  }
}
