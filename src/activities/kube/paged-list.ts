/**
 * Whole-cluster lists in pages (`limit` + `continue`), heartbeating after every page. One response
 * for every pod of a 1,000-node cluster is tens of megabytes the API server builds in one go (and a
 * 30-second call could not wait for); pages of LIST_PAGE_SIZE keep each response small, and the
 * heartbeat after each says the scan is alive however long the whole takes.
 *
 * A scan that keeps only what it picks from each item (names, UIDs, reasons: never whole objects,
 * which could carry inline env values) heartbeats those picks with the continue token, so an attempt
 * retried after a lost worker or heartbeat resumes at the page where the last one stopped. A token
 * the API server no longer knows (410 Gone: it keeps one about five minutes, until its etcd
 * compaction) restarts that list from the first page, dropping what it had picked.
 */
import { Context } from '@temporalio/activity';
import { withKubeAnswering } from '../errors';
import type { ClusterKube } from './client';

/** Items per page: a page of pods is a few megabytes at most, one API server answer well under a second. */
export const LIST_PAGE_SIZE = 500;

export interface PageRequest {
  limit: number;
  _continue?: string;
}

export interface ListPage<T> {
  items: T[];
  metadata?: { _continue?: string; remainingItemCount?: number };
}

/** One list's progress, as heartbeated. */
export interface ListProgress<R = unknown> {
  /** The token of the next page; absent once the list is done. */
  continueToken?: string;
  done: boolean;
  pages: number;
  /** Items read so far (of this pass, after a restart). */
  read: number;
  /** The API server's remainingItemCount after the last page, when it gave one. */
  remaining?: number;
  /** Times the list started over because its continue token had expired (410 Gone). */
  restarts: number;
  picked: R[];
}

/** The heartbeat details of a paged scan: each list's progress, by the name the scan gave it. */
export interface ScanHeartbeat {
  lists: Record<string, ListProgress>;
}

const GONE = Symbol('410 Gone');

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (a script, a unit test)
  }
}

function isScanHeartbeat(d: unknown): d is ScanHeartbeat {
  return typeof d === 'object' && d !== null && typeof (d as ScanHeartbeat).lists === 'object';
}

/**
 * The lists of one scan activity. Each `collect` or `forEachPage` names its list; names must be
 * unique within the activity and the same on every attempt (that is how a retry finds its place).
 */
export class PagedScan {
  private readonly state: ScanHeartbeat;
  private readonly ctx = activityContext();

  constructor(
    private readonly kube: ClusterKube,
    private readonly pageSize = LIST_PAGE_SIZE,
  ) {
    const previous = this.ctx?.info.heartbeatDetails as unknown;
    this.state = isScanHeartbeat(previous) ? previous : { lists: {} };
  }

  /** What every list has done so far (the last heartbeat's details). */
  get progress(): ScanHeartbeat {
    return this.state;
  }

  /** Total pages read over every list of this scan (resumed pages included). */
  get pages(): number {
    return Object.values(this.state.lists).reduce((n, l) => n + l.pages, 0);
  }

  /**
   * What `pick` keeps of every item of the list (undefined: nothing), over all pages. Picks must be
   * small and JSON-serialisable: they are heartbeated so a retry resumes at the next page.
   */
  async collect<T, R>(
    name: string,
    list: (page: PageRequest) => Promise<ListPage<T>>,
    pick: (item: T) => R | undefined,
  ): Promise<R[]> {
    const progress = this.listProgress<R>(name);
    await this.pageThrough(name, progress, list, (items) => {
      for (const item of items) {
        const kept = pick(item);
        if (kept !== undefined) progress.picked.push(kept);
      }
    });
    return progress.picked;
  }

  /**
   * Every page of the list handed to `onPage`, heartbeating progress only: for a scan that needs the
   * whole objects, which cannot be heartbeated, a retry reads the list from its first page again.
   */
  async forEachPage<T>(
    name: string,
    list: (page: PageRequest) => Promise<ListPage<T>>,
    onPage: (items: T[]) => void,
  ): Promise<void> {
    const progress = this.listProgress(name);
    // Items of an earlier attempt are gone with it: start over rather than resume at its token.
    startOver(progress, progress.restarts);
    await this.pageThrough(name, progress, list, onPage);
  }

  /** Every item of the list (pages heartbeated; a retry starts the list over). */
  async listAll<T>(name: string, list: (page: PageRequest) => Promise<ListPage<T>>): Promise<T[]> {
    const out: T[] = [];
    await this.forEachPage<T>(name, list, (items) => out.push(...items));
    return out;
  }

  private listProgress<R>(name: string): ListProgress<R> {
    const existing = this.state.lists[name] as ListProgress<R> | undefined;
    if (existing) return existing;
    const created: ListProgress<R> = fresh(0);
    this.state.lists[name] = created;
    return created;
  }

  private async pageThrough<T>(
    name: string,
    progress: ListProgress,
    list: (page: PageRequest) => Promise<ListPage<T>>,
    onPage: (items: T[]) => void,
  ): Promise<void> {
    const ctx = { cluster: this.kube.cluster, operation: name, server: this.kube.server };
    while (!progress.done) {
      const request: PageRequest = {
        limit: this.pageSize,
        ...(progress.continueToken ? { _continue: progress.continueToken } : {}),
      };
      const page = await withKubeAnswering(ctx, progress.continueToken ? [410] : [], GONE, () =>
        list(request),
      );
      if (page === GONE) {
        // The token expired: the list cannot continue where it was, only start over.
        startOver(progress, progress.restarts + 1);
        this.ctx?.log.info(`${name}: continue token expired (410 Gone); listing again from the start`);
        continue;
      }
      onPage(page.items);
      progress.pages += 1;
      progress.read += page.items.length;
      const next = page.metadata?._continue || undefined;
      if (next) progress.continueToken = next;
      else delete progress.continueToken;
      progress.done = next === undefined;
      if (page.metadata?.remainingItemCount !== undefined)
        progress.remaining = page.metadata.remainingItemCount;
      else delete progress.remaining;
      this.ctx?.heartbeat(this.state);
    }
  }
}

function fresh<R>(restarts: number): ListProgress<R> {
  return { done: false, pages: 0, read: 0, restarts, picked: [] };
}

/** The list from its first page again: no token, nothing read or picked. */
function startOver(progress: ListProgress, restarts: number): void {
  delete progress.continueToken;
  delete progress.remaining;
  Object.assign(progress, fresh(restarts));
}
