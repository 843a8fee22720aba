/**
 * Calls over ZeroMQ TCP between the learner and its cluster env runners: a DEALER (the learner's end,
 * many calls in flight, matched to replies by id) and a ROUTER (the runner's end). Both ends are CURVE:
 * the runner is a CURVE server whose public key only this run's learner knows, so nothing else can
 * connect. ZMTP heartbeats notice a peer that is gone (a dead process or node) within seconds, and each
 * end then gives up on the other: the learner fails the runner's calls, the runner exits.
 */
import { curveKeyPair, Dealer, Router } from "zeromq";
import { decodeMessage, encodeMessage } from "./wire.js";

/** ZMTP heartbeats: a peer silent this long is gone. */
const HEARTBEAT_INTERVAL_MS = 1000;
const HEARTBEAT_TIMEOUT_MS = 5000;
const HEARTBEATS = {
  heartbeatInterval: HEARTBEAT_INTERVAL_MS,
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
  heartbeatTimeToLive: HEARTBEAT_TIMEOUT_MS,
};

interface Request {
  id: number;
  method: string;
  args: unknown;
}

/** An error travels as its message and its name (so a user's mistake stays one line at the CLI). */
type Reply = { id: number; value: unknown } | { id: number; error: string; name: string };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (reason: Error) => void;
  timer?: NodeJS.Timeout;
}

/** Messages on one socket go out one at a time (zeromq.js allows one pending send per socket). */
class SendQueue {
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly socket: Dealer | Router) {}

  send(frames: Buffer[]): Promise<void> {
    const sent = this.last.then(() => this.socket.send(frames));
    this.last = sent.catch(() => {});
    return sent;
  }
}

/** The learner's end of one runner: `call`s in flight at once, each with its own timeout. */
export class RpcClient {
  /** Rejects once the runner is unreachable (or the client closed): race calls against it. */
  readonly died: Promise<never>;
  private readonly socket: Dealer;
  private readonly sends: SendQueue;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private rejectDied!: (reason: Error) => void;

  constructor(
    private readonly name: string,
    readonly endpoint: string,
    serverKey: string,
  ) {
    this.died = new Promise<never>((_, reject) => {
      this.rejectDied = reject;
    });
    this.died.catch(() => {});
    const keys = curveKeyPair();
    this.socket = new Dealer({
      linger: 0,
      curveServerKey: serverKey,
      curvePublicKey: keys.publicKey,
      curveSecretKey: keys.secretKey,
      ...HEARTBEATS,
    });
    this.sends = new SendQueue(this.socket);
    this.socket.connect(endpoint);
    void this.watchEvents();
    void this.receiveReplies();
  }

  /** `method(args)` on the runner; rejects after `timeoutMs` or once the runner is gone. */
  call(method: string, args: unknown = null, timeoutMs?: number): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const request: Request = { id, method, args };
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new Error(`${this.name}: ${method} took longer than ${timeoutMs / 1000} s`));
        }, timeoutMs);
      }
      this.pending.set(id, pending);
      this.sends.send(encodeMessage(request)).catch((error: Error) => this.fail(error));
    });
  }

  /** Fails every call in flight and later ones with `reason`, and closes the socket. */
  fail(reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(reason);
    }
    this.pending.clear();
    this.rejectDied(reason);
    this.socket.close();
  }

  close(): void {
    this.fail(new Error(`${this.name}: the connection was closed`));
  }

  private async watchEvents(): Promise<void> {
    try {
      for await (const event of this.socket.events) {
        if (event.type === "disconnect") {
          this.fail(new Error(`${this.name}: lost the connection to ${this.endpoint}`));
        } else if (event.type.startsWith("handshake:error")) {
          this.fail(
            new Error(`${this.name}: ${this.endpoint} refused the run's CURVE handshake (${event.type})`),
          );
        }
      }
    } catch {
      // The socket closed: fail() has run.
    }
  }

  private async receiveReplies(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const reply = decodeMessage(frames) as Reply;
        const pending = this.pending.get(reply.id);
        if (!pending) continue; // timed out already
        this.pending.delete(reply.id);
        clearTimeout(pending.timer);
        if ("error" in reply) pending.reject(Object.assign(new Error(reply.error), { name: reply.name }));
        else pending.resolve(reply.value);
      }
    } catch (error) {
      if (!this.failure) this.fail(new Error(`${this.name}: ${(error as Error).message}`));
    }
  }
}

export type RpcHandlers = Record<string, (args: never) => unknown>;

export interface RpcServer {
  /** The endpoint bound (`tcp://host:port`, the port chosen when bound to `:*`). */
  endpoint: string;
  /** Resolves once a learner has connected (completed the CURVE handshake). */
  peerConnected: Promise<void>;
  /** Resolves once the learner that connected has gone (disconnected, or silent past the heartbeat timeout). */
  peerGone: Promise<void>;
  close(): void;
}

/**
 * Binds a CURVE server at `bind` and answers each request with `handlers[method](args)`, several at once
 * (a handler's errors become error replies, as one line).
 */
export async function serveRpc(bind: string, secretKey: string, handlers: RpcHandlers): Promise<RpcServer> {
  const socket = new Router({ linger: 0, curveServer: true, curveSecretKey: secretKey, ...HEARTBEATS });
  await socket.bind(bind);
  const sends = new SendQueue(socket);
  let connected = false;
  let onConnected!: () => void;
  const peerConnected = new Promise<void>((resolve) => {
    onConnected = resolve;
  });
  const peerGone = new Promise<void>((resolve) => {
    void (async () => {
      try {
        for await (const event of socket.events) {
          if (event.type === "handshake") {
            connected = true;
            onConnected();
          } else if (event.type === "disconnect" && connected) return resolve();
        }
      } catch {
        // closed
      }
      resolve();
    })();
  });
  void (async () => {
    try {
      for await (const [identity, ...frames] of socket) {
        void answer(identity as Buffer, frames);
      }
    } catch {
      // closed
    }
  })();
  async function answer(identity: Buffer, frames: Buffer[]): Promise<void> {
    let id = 0;
    let reply: Reply;
    try {
      const request = decodeMessage(frames) as Request;
      id = request.id;
      const handler = handlers[request.method];
      if (!handler) throw new Error(`unknown method ${request.method}`);
      reply = { id, value: (await handler(request.args as never)) ?? null };
    } catch (error) {
      const { message, name } = error instanceof Error ? error : { message: String(error), name: "Error" };
      reply = { id, error: message, name };
    }
    await sends.send([identity, ...encodeMessage(reply)]).catch(() => {});
  }
  return {
    endpoint: socket.lastEndpoint ?? bind,
    peerConnected,
    peerGone,
    close: () => socket.close(),
  };
}
