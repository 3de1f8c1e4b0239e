/**
 * A loopback front door to the local PostgreSQL that asks every client for
 * its password in clear text, as an Aurora cluster does for a user with IAM
 * authentication (rds_iam logs in through PAM, which takes the token as a
 * cleartext password), records what it was given, then hands the connection
 * to the real server (trust auth there: it asks nothing more). `refuse` makes
 * it answer a login with PostgreSQL's error 28P01 instead, in words a test
 * chooses (a server that quotes what it was sent).
 *
 * Speaks just enough of the protocol (PostgreSQL docs, "Message Flow" and
 * "Message Formats"): SSLRequest and GSSENCRequest are answered `N`, the
 * StartupMessage is kept and replayed upstream after the PasswordMessage.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface FrontLogin {
  user: string;
  database: string;
  password: string;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
/** AuthenticationCleartextPassword: 'R', length 8, code 3. */
const ASK_CLEARTEXT = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]);

export class PgPasswordFront {
  /** Every login, in order. */
  readonly logins: FrontLogin[] = [];
  /** When set, a login is refused with this message (SQLSTATE 28P01) instead of reaching PostgreSQL. */
  refuse: ((login: FrontLogin) => string) | undefined;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: { host: string; port: number };

  constructor(upstream = { host: '127.0.0.1', port: 5432 }) {
    this.upstream = upstream;
  }

  async start(): Promise<this> {
    const server = createServer((client) => {
      this.accept(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => {
      if (this.server) this.server.close(() => { resolve(); });
      else resolve();
    });
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket)).on('error', () => socket.destroy());
    return socket;
  }

  private accept(client: Socket): void {
    this.track(client);
    let pending = Buffer.alloc(0);
    let startup: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      // Untyped messages first (length, code): a request for encryption, then the startup message.
      while (!startup) {
        if (pending.length < 8 || pending.length < pending.readInt32BE(0)) return;
        const message = pending.subarray(0, pending.readInt32BE(0));
        pending = pending.subarray(message.length);
        const code = message.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          client.write('N');
          continue;
        }
        startup = message;
        client.write(ASK_CLEARTEXT);
      }
      // Then the PasswordMessage: 'p', length, the password and a NUL.
      if (pending.length < 5) return;
      if (pending[0] !== 0x70) {
        client.destroy();
        return;
      }
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) return;
      const password = pending.subarray(5, length).toString('utf8');
      const rest = pending.subarray(1 + length);
      client.pause();
      client.off('data', onData);
      this.login(client, startup, password, rest);
    };
    client.on('data', onData);
  }

  private login(client: Socket, startup: Buffer, password: string, rest: Buffer): void {
    const params = startupParams(startup);
    const login: FrontLogin = { user: params.user ?? '', database: params.database ?? params.user ?? '', password };
    this.logins.push(login);
    const refusal = this.refuse?.(login);
    if (refusal !== undefined) {
      client.end(errorResponse('28P01', refusal));
      return;
    }
    const upstream = this.track(connect(this.upstream.port, this.upstream.host));
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.write(startup);
    if (rest.length > 0) upstream.write(rest);
    client.pipe(upstream).pipe(client);
    client.resume();
  }
}

/** The key/value pairs after the protocol version of a StartupMessage. */
function startupParams(message: Buffer): Record<string, string> {
  const parts = message.subarray(8).toString('utf8').split('\0');
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params[parts[i] ?? ''] = parts[i + 1] ?? '';
  return params;
}

/** ErrorResponse 'E': severity, SQLSTATE and message fields, each NUL-terminated, then a NUL. */
function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}
