/**
 * Published datasets (`publish_put/get/list/delete`): a named value whose
 * future keys the scheduler holds for the pseudo-client `published-<name>`.
 * With a state dir they are written through (the recovery extension,
 * actors/scheduler/recovery.ts, restores them on start); client.restart()
 * forgets them.
 */
import { DistributedError } from '../../lib/errors.js';
import { inboxHandlers } from '../../lib/comm/mailbox.js';
import type { Blob, SchedulerInbox } from '../../lib/protocol/messages.js';
import { PUBLISHED_PREFIX } from '../../lib/scheduler/records.js';
import { isBlob, requireKeys, requireString } from './checks.js';
import type { SchedulerExtension, SchedulerHost } from './host.js';

export interface Dataset {
  keys: string[];
  data: Blob;
}

/** Where datasets outlive the scheduler, when it has a state dir. */
export interface DatasetStore {
  readonly durable: boolean;
  /** Writes one record (undefined deletes); settles once committed. */
  persist(key: string, value: unknown): Promise<void>;
}

export interface DatasetsExtension extends SchedulerExtension {
  /** By name; the recovery extension fills it from the state dir. */
  readonly datasets: Map<string, Dataset>;
}

export function createDatasetsExtension(host: SchedulerHost, store: DatasetStore): DatasetsExtension {
  const datasets = new Map<string, Dataset>();

  /** 'OK' once the change is durable (at once without a state dir). */
  function written(name: string, value: Dataset | undefined): 'OK' | Promise<'OK'> {
    return store.durable ? store.persist(`dataset/${name}`, value).then(() => 'OK' as const) : 'OK';
  }

  return {
    datasets,
    handlers: inboxHandlers<SchedulerInbox>({
      publish_put: (msg) => {
        const name = requireString(msg.name, 'name', 'publish_put');
        const keys = requireKeys(msg.keys ?? [], 'publish_put');
        const data: unknown = msg.data;
        if (!isBlob(data)) throw new DistributedError('publish_put: data must be a Blob');
        const existing = datasets.get(name);
        if (existing !== undefined && msg.override !== true) throw new DistributedError(`a dataset named ${JSON.stringify(name)} already exists`);
        const holder = `${PUBLISHED_PREFIX}${name}`;
        // Want the new keys before letting go of the old ones: keys in both must not be released in between.
        host.sendOut(host.state.clientDesiresKeys(holder, keys, host.state.nextStimulusId('publish')));
        if (existing !== undefined) {
          const stale = existing.keys.filter((k) => !keys.includes(k));
          host.sendOut(host.state.clientReleasesKeys(holder, stale, host.state.nextStimulusId('publish-override')));
        }
        datasets.set(name, { keys: [...keys], data });
        return written(name, { keys, data });
      },
      publish_get: (msg) => {
        const name = requireString(msg.name, 'name', 'publish_get');
        const dataset = datasets.get(name);
        if (dataset === undefined) throw new DistributedError(`no dataset named ${JSON.stringify(name)}`);
        return dataset;
      },
      publish_list: () => [...datasets.keys()],
      publish_delete: (msg) => {
        const name = requireString(msg.name, 'name', 'publish_delete');
        const dataset = datasets.get(name);
        if (dataset === undefined) throw new DistributedError(`no dataset named ${JSON.stringify(name)}`);
        datasets.delete(name);
        host.sendOut(host.state.clientReleasesKeys(`${PUBLISHED_PREFIX}${name}`, dataset.keys, host.stimulus(msg)));
        return written(name, undefined);
      },
    }),
    restarted() {
      datasets.clear();
    },
  };
}
