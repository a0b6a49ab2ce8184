/**
 * Where the REST and WebSocket APIs live. The page is built once and served in several places
 * (the local stack, S3 behind CloudFront), so the endpoints come from `/config.json` beside the
 * page, written by whoever serves it; without one, the local stack's layout is assumed.
 */

export interface Endpoints {
  /** Origin (and stage path, on AWS) of the REST API; requests go to `${http}/api/...`. */
  http: string;
  /** WebSocket URL without query; a ticket is appended per connection. */
  ws: string;
}

export function fallbackEndpoints(loc: Pick<Location, 'origin' | 'hostname' | 'protocol'>): Endpoints {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return { http: loc.origin, ws: `${scheme}://${loc.hostname}:3001` };
}

export function parseEndpoints(raw: unknown, fallback: Endpoints): Endpoints {
  if (typeof raw !== 'object' || raw === null) return fallback;
  const obj = raw as Record<string, unknown>;
  const http = typeof obj.http === 'string' && obj.http ? obj.http : fallback.http;
  const ws = typeof obj.ws === 'string' && obj.ws ? obj.ws : fallback.ws;
  return { http: http.replace(/\/+$/, ''), ws };
}

export async function loadEndpoints(): Promise<Endpoints> {
  const fallback = fallbackEndpoints(window.location);
  try {
    const res = await fetch(new URL('config.json', window.location.href), { cache: 'no-store' });
    if (!res.ok) return fallback;
    return parseEndpoints(await res.json(), fallback);
  } catch {
    return fallback;
  }
}
