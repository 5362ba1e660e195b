/**
 * The client's end of its scheduler connection: a mailbox actor whose
 * handlers are the reports a scheduler sends to clients.
 */
import { inboxHandlers, MailboxActor, type Handler, type Peer } from '../comm/mailbox.js';
import { childLogger } from '../logging.js';
import type {
  CancelledKeysMsg, ClientInbox, KeyInMemoryMsg, LostDataMsg, TaskErredToClientMsg, TaskRetriedMsg,
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
    this.handlers = inboxHandlers<ClientInbox>({
      'key-in-memory': (msg) => reports.keyInMemory(msg),
      'task-erred': (msg) => reports.taskErred(msg),
      'lost-data': (msg) => reports.lostData(msg),
      'cancelled-keys': (msg) => reports.cancelledKeys(msg),
      'task-retried': (msg) => reports.taskRetried(msg),
      restart: () => reports.restart(),
      event: (msg) => reports.event(String(msg.topic), Number(msg.time), msg.msg),
    });
  }

  /** The client has one peer, the scheduler: its comm closing ends the session. */
  protected override onPeerClosed(peer: Peer, reason?: Error): void {
    this.reports.schedulerClosed(reason, peer);
  }
}
