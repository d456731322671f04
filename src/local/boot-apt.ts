import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import {
  createServer as createHttpServer,
  get as httpGet,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { get as httpsGet } from "node:https";
import { dirname, join } from "node:path";
import type { DebianMirror } from "./mirror.js";

/**
 * A caching apt proxy on loopback for guests that install packages (the stock path's cloud-init).
 * Under TCG, a guest's downloads from the internet mirror are slow and repeated on every run; here
 * each .deb is fetched once by the host and kept in the cache, and the guest reaches the proxy at
 * 10.0.2.2 (QEMU's user-mode network maps it to the host's loopback). Indices pass through fresh.
 * Only the machine's own Debian mirror hosts are proxied: the guest gets no other way out.
 */

export interface AptProxyStats {
  fromCache: number;
  fetched: number;
  passedThrough: number;
  refused: number;
  /** Requests that found the same file downloading and waited for it instead of fetching it again. */
  waitedForDownload: number;
}

export interface AptProxy {
  readonly port: number;
  readonly stats: AptProxyStats;
  close(): Promise<void>;
}

/** Files that never change once in the archive (apt checks their hashes anyway). */
export function cacheable(pathname: string): boolean {
  return /\/pool\/.+\.(u?deb)$/.test(pathname) && !pathname.includes("..");
}

export function allowedHosts(mirror: DebianMirror): Set<string> {
  const hosts = new Set<string>();
  for (const uri of [mirror.archive, mirror.security]) if (uri) hosts.add(new URL(uri).host);
  return hosts;
}

const PASSED_HEADERS = ["content-type", "content-length", "last-modified", "etag", "date"];

function passedHeaders(response: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED_HEADERS) {
    const value = response.headers[name];
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

function upstream(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((done, reject) => {
    const get = url.protocol === "https:" ? httpsGet : httpGet;
    const request = get(url, { headers, timeout: 60_000 }, done);
    request.on("timeout", () => request.destroy(new Error(`timed out fetching ${url.href}`)));
    request.on("error", reject);
  });
}

export async function startAptProxy(mirror: DebianMirror, cacheDir: string): Promise<AptProxy> {
  const hosts = allowedHosts(mirror);
  const stats: AptProxyStats = {
    fromCache: 0,
    fetched: 0,
    passedThrough: 0,
    refused: 0,
    waitedForDownload: 0,
  };
  // A client sees its body complete (content-length) before the file is renamed into the cache, so
  // a request that arrives meanwhile waits for that download instead of starting a second one.
  const downloading = new Map<string, Promise<void>>();

  async function servedFromCache(file: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    for (;;) {
      const pending = downloading.get(file);
      if (pending) {
        stats.waitedForDownload++;
        await pending;
        continue;
      }
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile()) {
        stats.fromCache++;
        res.writeHead(200, {
          "content-length": String(info.size),
          "content-type": "application/vnd.debian.binary-package",
        });
        if (req.method === "HEAD") res.end();
        else createReadStream(file).pipe(res);
        return true;
      }
      // stat yielded: a download may have started meanwhile; wait for it rather than race it.
      if (!downloading.has(file)) return false;
    }
  }

  async function passThrough(url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers: Record<string, string> = {};
    for (const name of ["if-modified-since", "if-none-match", "range"]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const response = await upstream(url, headers);
    res.writeHead(response.statusCode ?? 502, passedHeaders(response));
    stats.passedThrough++;
    if (req.method === "HEAD") {
      response.resume();
      res.end();
    } else response.pipe(res);
  }

  async function download(url: URL, file: string, res: ServerResponse): Promise<void> {
    const response = await upstream(url, {});
    res.writeHead(response.statusCode ?? 502, passedHeaders(response));
    if (response.statusCode !== 200) {
      stats.passedThrough++;
      response.pipe(res);
      return;
    }
    stats.fetched++;
    await mkdir(dirname(file), { recursive: true });
    const partial = `${file}.partial-${process.pid}-${stats.fetched}`;
    const sink = createWriteStream(partial);
    response.pipe(sink);
    // The client's response ends only once the file is in the cache.
    response.pipe(res, { end: false });
    try {
      await new Promise<void>((done, reject) => {
        sink.on("finish", done);
        sink.on("error", reject);
        response.on("error", reject);
      });
      if (!response.complete) throw new Error(`download of ${url.href} was cut short`);
      await rename(partial, file);
      res.end();
    } catch (error) {
      await rm(partial, { force: true });
      res.destroy();
      throw error;
    }
  }

  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      let url: URL;
      try {
        url = new URL(req.url ?? "");
      } catch {
        stats.refused++;
        res.writeHead(400).end("ops-rig apt proxy: absolute URLs only\n");
        return;
      }
      if (!hosts.has(url.host) || (req.method !== "GET" && req.method !== "HEAD")) {
        stats.refused++;
        res.writeHead(403).end(`ops-rig apt proxy: only GET from ${[...hosts].join(", ")}\n`);
        return;
      }
      const file = join(cacheDir, url.host, decodeURIComponent(url.pathname));
      if (!cacheable(url.pathname)) {
        await passThrough(url, req, res);
        return;
      }
      if (await servedFromCache(file, req, res)) return;
      if (req.method !== "GET") {
        await passThrough(url, req, res);
        return;
      }
      // Registered before the first await, so a request for the same file that arrives while this
      // one downloads (apt's retry, a second guest) waits for it and is then a cache hit.
      let finished = (): void => undefined;
      downloading.set(file, new Promise<void>((done) => (finished = done)));
      try {
        await download(url, file, res);
      } finally {
        downloading.delete(file);
        finished();
      }
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502).end(`ops-rig apt proxy: ${(error as Error).message}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((done, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", done);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    stats,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** The cloud-config part that sends the guest's apt through the proxy; the sources stay the image's. */
export function aptProxyCloudConfig(port: number): string {
  return [
    "#cloud-config",
    "# ops-rig --boot: apt goes through the host's caching proxy (10.0.2.2 is the host in QEMU's",
    "# user-mode network); the image's own sources stay as they are.",
    "apt:",
    "  preserve_sources_list: true",
    `  proxy: http://10.0.2.2:${port}/`,
    "",
  ].join("\n");
}
