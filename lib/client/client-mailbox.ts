/**
 * The client's end of its scheduler connection: a mailbox actor whose
 * handlers are the reports a scheduler sends to clients.
 */
import { MailboxActor, type Handler, type Peer } from '../comm/mailbox.js';
import { childLogger } from '../logging.js';
import type {
  CancelledKeysMsg, KeyInMemoryMsg, LostDataMsg, OpDict, TaskErredToClientMsg, TaskRetriedMsg,
} from '../protocol/messages.js';
import type { Security } from '../comm/security.js';

/** What the client does with each report. */
export interface SchedulerReports {
  keyInMemory(msg: KeyInMemoryMsg): void;
  taskErred(msg: TaskErredToClientMsg): void;
  lostData(msg: LostDataMsg): void;
  cancelledKeys(msg: CancelledKeysMsg): void;
  taskRetried(msg: TaskRetriedMsg): void;
  restart(): void;
  /** A structured event on a topic this client subscribed to. */
  event(topic: string, time: number, msg: unknown): void;
  /** `peer`: the connection that closed (a failed reconnection attempt's is not news). */
  schedulerClosed(reason: Error | undefined, peer: Peer): void;
}

export class ClientMailbox extends MailboxActor {
  protected readonly handlers: Readonly<Record<string, Handler>>;

  constructor(private readonly reports: SchedulerReports, clientId: string, security?: Security) {
    super('client', { logger: childLogger('client', { client: clientId }), security });
    const as = <M>(handle: (msg: M) => void): Handler => (msg: OpDict) => handle(msg as unknown as M);
    this.handlers = {
      'key-in-memory': as<KeyInMemoryMsg>((msg) => reports.keyInMemory(msg)),
      'task-erred': as<TaskErredToClientMsg>((msg) => reports.taskErred(msg)),
      'lost-data': as<LostDataMsg>((msg) => reports.lostData(msg)),
      'cancelled-keys': as<CancelledKeysMsg>((msg) => reports.cancelledKeys(msg)),
      'task-retried': as<TaskRetriedMsg>((msg) => reports.taskRetried(msg)),
      restart: () => reports.restart(),
      event: (msg: OpDict) => reports.event(String(msg.topic), Number(msg.time), msg.msg),
    };
  }

  /** The client has one peer, the scheduler: its comm closing ends the session. */
  protected override onPeerClosed(peer: Peer, reason?: Error): void {
    this.reports.schedulerClosed(reason, peer);
  }
}
