/**
 * The connection to one rlts_gym server, with requests serialised, timed out and raced against the
 * server's death.
 *
 * zeromq.js allows one pending send and one pending receive per socket, REQ allows one request in flight,
 * and so does the shared-memory transport, so requests queue on a promise chain. A timeout leaves the
 * transport waiting for a reply that may never come, so the connection is closed for good and every later
 * request fails with the same error.
 */
import { curveKeyPair, Request } from "zeromq";
import { decodeReply, encodeHeader, type ReplyHeader } from "./protocol.js";

export interface Reply {
  command: string;
  header: ReplyHeader;
  frames: Map<string, Buffer>;
}

export interface ConnectionOptions {
  /** Rejects when the server process exits; undefined for a server started elsewhere. */
  serverExited?: Promise<never>;
  /** Called once when the connection fails (e.g. to kill a server that stopped answering). */
  onFail?: (reason: Error) => void;
  /** The server is a CURVE server with this public key (Z85): the connection is encrypted, and only a
   * client that knows the key gets through. */
  curveServerKey?: string;
}

/**
 * What carries requests to one server, one at a time: ZeroMQ (`Connection`) or shared memory
 * (`ShmConnection`, shm.ts). The protocol's messages are the same on both, so encoding the request and
 * decoding the reply happen here; a transport only moves a message's frames there and the reply's back.
 */
export abstract class Channel {
  private queue: Promise<unknown> = Promise.resolve();
  protected failure?: Error;
  /** The session `hello` opened: every later request names it (the server serves one client at a time). */
  session?: string;

  constructor(
    protected readonly envId: string,
    readonly endpoint: string,
    protected readonly timeoutMs: number,
    private readonly options: Pick<ConnectionOptions, "serverExited" | "onFail"> = {},
  ) {
    options.serverExited?.catch((err: Error) => this.fail(err));
  }

  /** Sends `cmd` with header `fields` and array `frames`, resolving with the decoded reply. */
  request(cmd: string, fields: Record<string, unknown> = {}, frames: ArrayBufferView[] = []): Promise<Reply> {
    const result = this.queue.then(() => this.exchange(cmd, fields, frames));
    this.queue = result.catch(() => {});
    return result;
  }

  /** Closes the transport; later requests fail with `reason`. */
  fail(reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.shutDown();
    this.options.onFail?.(reason);
  }

  /** Releases the transport (once, after the first failure or close). */
  protected abstract shutDown(): void;

  /**
   * Moves one request's frames to the server and resolves with the reply's frames. A reply that does not
   * come within `timeoutMs` rejects with an error whose `code` is "EAGAIN" (as zeromq.js's does).
   * Reply frames may be views of a buffer the next request reuses: they are decoded before that.
   */
  protected abstract roundTrip(message: ArrayBufferView[]): Promise<Buffer[]>;

  private async exchange(
    cmd: string,
    fields: Record<string, unknown>,
    frames: ArrayBufferView[],
  ): Promise<Reply> {
    if (this.failure) throw this.failure;
    let message: Buffer[];
    try {
      const header = this.session === undefined ? fields : { session: this.session, ...fields };
      message = await this.roundTrip([encodeHeader(cmd, header), ...frames]);
    } catch (err) {
      // A dead server closes the transport under a pending call (see `fail`): report the death, not the transport's error.
      if (!this.failure) {
        const code = (err as { code?: string }).code;
        this.fail(
          code === "EAGAIN"
            ? new Error(
                `rlts remote env ${this.envId}: no reply to "${cmd}" from ${this.endpoint} within ${this.timeoutMs} ms; ` +
                  "the connection is closed and this env cannot be used any more (make a new one, or raise timeoutMs)",
              )
            : new Error(`rlts remote env ${this.envId}: "${cmd}" failed: ${(err as Error).message}`),
        );
      }
      throw this.failure;
    }
    const [header, named] = decodeReply(this.envId, cmd, message);
    return { command: cmd, header, frames: named };
  }
}

/** One REQ socket: a server on tcp:// or ipc://, here or elsewhere. */
export class Connection extends Channel {
  private readonly socket: Request;

  constructor(envId: string, endpoint: string, timeoutMs: number, options: ConnectionOptions = {}) {
    super(envId, endpoint, timeoutMs, options);
    const curve = options.curveServerKey
      ? (({ publicKey, secretKey }) => ({
          curveServerKey: options.curveServerKey,
          curvePublicKey: publicKey,
          curveSecretKey: secretKey,
        }))(curveKeyPair())
      : {};
    // linger 0: a closed socket never holds the process open with unsent messages (zeromq.js context).
    this.socket = new Request({ linger: 0, sendTimeout: timeoutMs, receiveTimeout: timeoutMs, ...curve });
    this.socket.connect(endpoint);
  }

  protected shutDown(): void {
    this.socket.close();
  }

  protected async roundTrip(message: ArrayBufferView[]): Promise<Buffer[]> {
    await this.socket.send(message);
    return this.socket.receive();
  }
}
