import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type AptProxy, aptProxyCloudConfig, cacheable, startAptProxy } from "../../../src/local/boot-apt.js";

/** The guest's apt talks to the proxy as to any HTTP proxy: absolute URLs in the request line. */
function viaProxy(port: number, url: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((done, reject) => {
    const target = new URL(url);
    const req = request(
      { host: "127.0.0.1", port, method, path: url, headers: { host: target.host } },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("the boot proof's caching apt proxy", () => {
  const hits: string[] = [];
  let releaseSlow: () => void = () => undefined;
  const slowHeld = new Promise<void>((done) => (releaseSlow = done));
  const mirror = createServer((req, res) => {
    hits.push(req.url ?? "");
    if (req.url?.endsWith("/slow_1.0_amd64.deb")) {
      // Half the body now, the rest when the test says: a download caught in the middle.
      res.writeHead(200, { "content-length": "8" });
      res.write("!<ar");
      void slowHeld.then(() => res.end("ch>\n"));
      return;
    }
    if (req.url?.endsWith("/missing.deb")) {
      res.writeHead(404).end("not here");
      return;
    }
    const body = req.url?.endsWith(".deb") ? "!<arch>\ndebian-binary" : "Origin: Debian\n";
    res.writeHead(200, { "content-length": String(body.length) }).end(body);
  });
  let proxy: AptProxy;
  let cache: string;
  let archive: string;

  beforeAll(async () => {
    await new Promise<void>((done) => mirror.listen(0, "127.0.0.1", done));
    const address = mirror.address();
    const port = typeof address === "object" && address ? address.port : 0;
    archive = `http://127.0.0.1:${port}/debian`;
    cache = await mkdtemp(join(tmpdir(), "ops-rig-apt-proxy-"));
    proxy = await startAptProxy({ archive, source: "test" }, cache);
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((done) => mirror.close(done));
    await rm(cache, { recursive: true, force: true });
  });

  it("fetches a .deb from the mirror once, then serves it from the cache", async () => {
    const url = `${archive}/pool/main/s/sleuthkit/sleuthkit_4.11.1_amd64.deb`;
    expect(await viaProxy(proxy.port, url)).toEqual({ status: 200, body: "!<arch>\ndebian-binary" });
    expect(await viaProxy(proxy.port, url)).toEqual({ status: 200, body: "!<arch>\ndebian-binary" });
    expect(hits.filter((h) => h.endsWith("sleuthkit_4.11.1_amd64.deb"))).toHaveLength(1);
    const host = new URL(archive).host;
    expect(
      await readFile(join(cache, host, "/debian/pool/main/s/sleuthkit/sleuthkit_4.11.1_amd64.deb"), "utf8"),
    ).toBe("!<arch>\ndebian-binary");
    expect(proxy.stats).toMatchObject({ fetched: 1, fromCache: 1 });
  });

  it("a request for a file being downloaded waits for that download: one fetch, then a cache hit", async () => {
    const url = `${archive}/pool/main/s/slow/slow_1.0_amd64.deb`;
    const first = viaProxy(proxy.port, url);
    await vi.waitUntil(() => hits.some((h) => h.endsWith("slow_1.0_amd64.deb")));
    const second = viaProxy(proxy.port, url);
    // Either the proxy waits (the fix) or the mirror sees a second download (the race it closes).
    await vi.waitUntil(
      () =>
        proxy.stats.waitedForDownload > 0 || hits.filter((h) => h.endsWith("slow_1.0_amd64.deb")).length > 1,
    );
    releaseSlow();
    expect(await first).toEqual({ status: 200, body: "!<arch>\n" });
    expect(await second).toEqual({ status: 200, body: "!<arch>\n" });
    expect(hits.filter((h) => h.endsWith("slow_1.0_amd64.deb"))).toHaveLength(1);
    expect(proxy.stats).toMatchObject({ fetched: 2, fromCache: 2 });
    expect(proxy.stats.waitedForDownload).toBeGreaterThan(0);
  });

  it("passes indices through fresh every time, and caches no error", async () => {
    const url = `${archive}/dists/bookworm/InRelease`;
    await viaProxy(proxy.port, url);
    await viaProxy(proxy.port, url);
    expect(hits.filter((h) => h.endsWith("/InRelease"))).toHaveLength(2);
    expect((await viaProxy(proxy.port, `${archive}/pool/main/x/x/missing.deb`)).status).toBe(404);
    expect((await viaProxy(proxy.port, `${archive}/pool/main/x/x/missing.deb`)).status).toBe(404);
    expect(hits.filter((h) => h.endsWith("missing.deb"))).toHaveLength(2);
  });

  it("refuses every host but the mirror's, and every method but GET and HEAD", async () => {
    const before = hits.length;
    expect((await viaProxy(proxy.port, "http://169.254.169.254/latest/meta-data/")).status).toBe(403);
    expect((await viaProxy(proxy.port, `${archive}/dists/bookworm/InRelease`, "POST")).status).toBe(403);
    expect(hits.length).toBe(before);
  });

  it("caches only archive packages, never a path that climbs out", () => {
    expect(cacheable("/debian/pool/main/t/tcpdump/tcpdump_4.99.3-1_amd64.deb")).toBe(true);
    expect(cacheable("/debian/dists/bookworm/main/binary-amd64/Packages.xz")).toBe(false);
    expect(cacheable("/debian/pool/../../etc/x.deb")).toBe(false);
    expect(aptProxyCloudConfig(3142)).toContain("  proxy: http://10.0.2.2:3142/\n");
    expect(aptProxyCloudConfig(3142)).toContain("  preserve_sources_list: true\n");
  });
});
