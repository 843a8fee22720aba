/**
 * One REQ socket to one rlts_gym server, with requests serialised, timed out and raced against the
 * server's death.
 *
 * zeromq.js allows one pending send and one pending receive per socket, and REQ allows one request in
 * flight, so requests queue on a promise chain. A timeout leaves REQ waiting for a reply that may never
 * come, so the connection is closed for good and every later request fails with the same error.
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

export class Connection {
  private readonly socket: Request;
  private queue: Promise<unknown> = Promise.resolve();
  private failure?: Error;
  /** The session `hello` opened: every later request names it (the server serves one client at a time). */
  session?: string;

  constructor(
    private readonly envId: string,
    private readonly endpoint: string,
    private readonly timeoutMs: number,
    private readonly options: ConnectionOptions = {},
  ) {
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
    options.serverExited?.catch((err: Error) => this.fail(err));
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  /** Sends `cmd` with header `fields` and array `frames`, resolving with the decoded reply. */
  request(cmd: string, fields: Record<string, unknown> = {}, frames: ArrayBufferView[] = []): Promise<Reply> {
    const result = this.queue.then(() => this.exchange(cmd, fields, frames));
    this.queue = result.catch(() => {});
    return result;
  }

  /** Closes the socket; later requests fail with `reason`. */
  fail(reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.socket.close();
    this.options.onFail?.(reason);
  }

  private async exchange(
    cmd: string,
    fields: Record<string, unknown>,
    frames: ArrayBufferView[],
  ): Promise<Reply> {
    if (this.failure) throw this.failure;
    let message: Buffer[];
    try {
      const header = this.session === undefined ? fields : { session: this.session, ...fields };
      await this.socket.send([encodeHeader(cmd, header), ...frames]);
      message = await this.socket.receive();
    } catch (err) {
      // A dead server closes the socket under a pending call (see `fail`): report the death, not the socket error.
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
