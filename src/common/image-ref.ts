/**
 * Container image references, following the grammar of the distribution project's `reference`
 * package (the one Docker, containerd and kubelet use), so what we accept is what a node can pull and
 * what we write into a pod template is exactly what we validated. Pure: workflows import it.
 */

/** A registry host: lowercase DNS labels (or an IPv4), optional port. Uppercase is refused as the engines do. */
const DOMAIN_COMPONENT = '(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]{1,5})?)`;
/** A path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`. */
const PATH_COMPONENT = '(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const TAG_RE = new RegExp(`^${TAG}$`);
const PATH_COMPONENT_RE = new RegExp(`^${PATH_COMPONENT}$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);

/** Docker Hub's canonical host; a reference without a host means this one. */
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';

export interface ImageReference {
  /** Registry host (with port), or undefined when the reference names none (Docker Hub implied). */
  domain?: string;
  /** Repository path under the host, e.g. `calico/node`. */
  path: string;
  tag?: string;
  digest?: string;
}

/** Why a value is not valid, or undefined when it is. Messages never echo more than the offending value. */
export function validateTag(tag: string): string | undefined {
  return TAG_RE.test(tag)
    ? undefined
    : `tag ${JSON.stringify(tag)} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128; no leading '.' or '-')`;
}

/**
 * A first path segment is a registry host when it looks like one (has a dot or a port, or is
 * `localhost`), the same rule the container engines use; anything else is a Docker Hub namespace.
 */
function looksLikeDomain(segment: string): boolean {
  return segment.includes('.') || segment.includes(':') || segment === 'localhost' || /[A-Z]/.test(segment);
}

/**
 * Validates a repository prefix such as `docker.io/calico`, `calico` or
 * `harbor-kr1.cloud.toastoven.net/container_service`; image names are appended to it.
 */
export function validateRepositoryPrefix(prefix: string): string | undefined {
  const where = `registry/prefix ${JSON.stringify(prefix)}`;
  if (prefix.length === 0) return `${where} is empty`;
  if (prefix.length > 200) return `${where} is too long`;
  const segments = prefix.split('/');
  let start = 0;
  if (segments.length > 1 && looksLikeDomain(segments[0]!)) {
    if (!DOMAIN_RE.test(segments[0]!)) {
      return `${where}: registry host ${JSON.stringify(segments[0])} is not a valid lowercase host[:port]`;
    }
    start = 1;
  }
  for (const segment of segments.slice(start)) {
    if (!PATH_COMPONENT_RE.test(segment)) {
      return `${where}: path component ${JSON.stringify(segment)} must be lowercase letters and digits separated by '.', '_', '__' or '-'`;
    }
  }
  return undefined;
}

/** Parses a full reference (`[host[:port]/]path[:tag][@digest]`); throws an Error naming the problem. */
export function parseImageReference(ref: string): ImageReference {
  if (ref.length === 0 || ref.length > 255)
    throw new Error(`image reference ${JSON.stringify(ref)} has a bad length`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest))
      throw new Error(`image reference ${JSON.stringify(ref)} has an invalid digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    const tagProblem = validateTag(tag);
    if (tagProblem) throw new Error(`image reference ${JSON.stringify(ref)}: ${tagProblem}`);
  }
  const problem = validateRepositoryPrefix(rest);
  if (problem) throw new Error(`image reference ${JSON.stringify(ref)}: ${problem}`);
  const segments = rest.split('/');
  if (segments.length > 1 && looksLikeDomain(segments[0]!)) {
    return { domain: segments[0], path: segments.slice(1).join('/'), tag, digest };
  }
  return { path: rest, tag, digest };
}

/**
 * The canonical form used to compare references: host made explicit (`docker.io`), Docker Hub's
 * official images under `library/`, `latest` when neither tag nor digest is given. So `calico/node:v1`
 * and `docker.io/calico/node:v1` are the same image, as they are to the node.
 */
export function normalizeImageReference(ref: string): string {
  const parsed = parseImageReference(ref);
  let domain = parsed.domain ?? DEFAULT_DOMAIN;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  let path = parsed.path;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  const tag = parsed.tag ?? (parsed.digest ? undefined : 'latest');
  return `${domain}/${path}${tag ? `:${tag}` : ''}${parsed.digest ? `@${parsed.digest}` : ''}`;
}

/** True when both name the same image; an unparsable reference equals only its identical string. */
export function sameImage(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return normalizeImageReference(a) === normalizeImageReference(b);
  } catch {
    return false;
  }
}

/** Joins a validated prefix, an image name and a tag into a reference. */
export function joinImageReference(prefix: string, name: string, tag: string): string {
  return `${prefix.replace(/\/+$/, '')}/${name}:${tag}`;
}
