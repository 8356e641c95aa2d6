/**
 * Kubernetes API clients per registered cluster. The kubeconfig is read on the worker from the path
 * in the registry; nothing of it leaves this module except the API server URL (for error messages).
 */
import { statSync } from 'node:fs';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import type { ClusterRegistry } from '../deps';

export interface ClusterKube {
  cluster: string;
  /** API server URL, for messages. */
  server: string;
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
}

interface CacheEntry {
  /** kubeconfig path, context and mtime: a re-written kubeconfig (a restarted simulator) is re-read. */
  key: string;
  kube: ClusterKube;
}

export class KubeClients {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(private readonly registry: ClusterRegistry) {}

  /** Throws UnknownCluster for an unregistered name, RegistryInvalid for an unusable kubeconfig. */
  forCluster(cluster: string): ClusterKube {
    const entry = this.registry.get(cluster);
    let mtime: number;
    try {
      mtime = statSync(entry.kubeconfig).mtimeMs;
    } catch (err) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${cluster}": kubeconfig ${entry.kubeconfig} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        ErrorType.RegistryInvalid,
        { cluster },
      );
    }
    const key = `${entry.kubeconfig}\0${entry.context ?? ''}\0${mtime}`;
    const cached = this.cache.get(cluster);
    if (cached?.key === key) return cached.kube;
    const kube = load(cluster, entry.kubeconfig, entry.context);
    this.cache.set(cluster, { key, kube });
    return kube;
  }
}

function load(cluster: string, path: string, context: string | undefined): ClusterKube {
  const invalid = (why: string) =>
    ApplicationFailure.nonRetryable(
      `cluster "${cluster}": kubeconfig ${path}: ${why}`,
      ErrorType.RegistryInvalid,
      {
        cluster,
      },
    );
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (err) {
    // The parser's message can quote file content; keep only its class.
    throw invalid(`not a valid kubeconfig (${err instanceof Error ? err.name : 'parse error'})`);
  }
  if (context) {
    if (!config.getContextObject(context)) {
      throw invalid(
        `has no context "${context}" (contexts: ${
          config
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    config.setCurrentContext(context);
  }
  shareOneAgent(config);
  const server = config.getCurrentCluster()?.server;
  if (!server)
    throw invalid(`current context "${config.getCurrentContext()}" names no cluster with a server`);
  return {
    cluster,
    server,
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
  };
}

/**
 * client-node 1.x builds a new HTTP agent for every request, so every call (and every watch) pays a
 * new TCP connection and TLS handshake with the client certificate. At a hundred pre-pulls at once
 * that was most of the worker's CPU and the API server's. One keep-alive agent per kubeconfig instead:
 * the options it is built with (CA, client certificate, proxy) are the same for every request of it.
 */
function shareOneAgent(config: KubeConfig): void {
  const target = config as unknown as { createAgent(cluster: unknown, options: object): unknown };
  const build = target.createAgent.bind(config);
  let shared: unknown;
  target.createAgent = (cluster, options) => (shared ??= build(cluster, { ...options, keepAlive: true }));
}

const byRegistry = new WeakMap<ClusterRegistry, KubeClients>();

/** One client cache per registry, shared by every activity factory (preflight, calico, ...). */
export function kubeClientsFor(registry: ClusterRegistry): KubeClients {
  let clients = byRegistry.get(registry);
  if (!clients) {
    clients = new KubeClients(registry);
    byRegistry.set(registry, clients);
  }
  return clients;
}
