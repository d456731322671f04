import { randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/**
 * What moto lacks for the responder commands, in front of it on loopback: CloudTrail LookupEvents
 * (from the EC2 calls that came through here), and Run Command on "managed" instances, which runs
 * the command's script for real on this machine with `insmod`/`lsmod`/`rmmod` shims (the LiME
 * "module" serves a fixture memory image on the loopback port the script reads) and a `curl` that
 * fetches `https://lime.test/...` from a local file; every other curl (the presigned part uploads)
 * is real and comes back through here to moto's S3. Everything else is passed to moto unchanged.
 *
 * `crashAfter(n)`: the n-th mutating AWS call from now reaches moto, and then the connection is
 * dropped before the answer: the caller sees a network error after AWS did the work (a crash).
 */

const MUTATING_EC2 = new Set([
  "CreateTags",
  "DeleteTags",
  "ModifyNetworkInterfaceAttribute",
  "DisassociateIamInstanceProfile",
  "AssociateIamInstanceProfile",
  "CreateSnapshot",
  "CreateVolume",
  "AttachVolume",
  "TerminateInstances",
]);

interface Command {
  commandId: string;
  instanceId: string;
  comment: string;
  status: string;
  stdout: string;
  stderr: string;
  done: Promise<void>;
}

export interface ResponderFront {
  readonly url: string;
  /** Instances the "SSM agent" is online on. */
  manage(instanceId: string): void;
  crashAfter(n: number): void;
  /** Mutating calls seen since the last reset (names). */
  readonly mutations: string[];
  readonly commands: readonly Command[];
  /** Waits for every Run Command script started so far. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startResponderFront(options: {
  motoUrl: string;
  /** The memory image the LiME shim serves. */
  memoryImage: string;
  /** What `https://lime.test/<name>` downloads. */
  limeModule: string;
}): Promise<ResponderFront> {
  const work = await mkdtemp(join(tmpdir(), "ops-rig-front-"));
  const shims = join(work, "bin");
  await mkdir(shims);
  const shim = async (name: string, body: string) => {
    await writeFile(join(shims, name), `#!/bin/bash\n${body}\n`);
    await chmod(join(shims, name), 0o755);
  };
  await shim("lsmod", 'echo "Module                  Size  Used by"');
  await shim("rmmod", "exit 0");
  // LiME with path=tcp:PORT: listens, serves the dump to the first connection, returns.
  await shim(
    "insmod",
    `port=$(printf '%s' "$2" | sed -n 's/.*path=tcp:\\([0-9]*\\).*/\\1/p')
exec python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept()
with open(sys.argv[2], "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b: break
        c.sendall(b)
c.close()
' "$port" ${JSON.stringify(options.memoryImage)}`,
  );
  await shim(
    "curl",
    `for a in "$@"; do case "$a" in https://lime.test/*) out=""; prev=""; for b in "$@"; do [ "$prev" = "-o" ] && out="$b"; prev="$b"; done; cp ${JSON.stringify(options.limeModule)} "$out"; exit 0;; esac; done
exec /usr/bin/curl "$@"`,
  );

  const managed = new Set<string>();
  const commands: Command[] = [];
  const mutations: string[] = [];
  const trail: { name: string; time: number; ids: string[] }[] = [];
  let crashAt = 0;
  let counted = 0;

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(body));
  };

  const runCommand = (cmd: Command, lines: string[]) => {
    cmd.done = (async () => {
      const script = join(work, `${cmd.commandId}.sh`);
      await writeFile(script, lines.join("\n"));
      const r = await execa("bash", [script], {
        reject: false,
        env: { PATH: `${shims}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
        timeout: 120_000,
      });
      cmd.stdout = String(r.stdout);
      cmd.stderr = String(r.stderr);
      cmd.status = r.exitCode === 0 ? "Success" : "Failed";
    })();
  };

  const ssm = (op: string, input: Record<string, unknown>, res: ServerResponse) => {
    switch (op) {
      case "DescribeInstanceInformation": {
        const filters = (input.Filters as { Key: string; Values: string[] }[] | undefined) ?? [];
        const ids = filters.find((f) => f.Key === "InstanceIds")?.Values ?? [...managed];
        return json(res, 200, {
          InstanceInformationList: ids
            .filter((id) => managed.has(id))
            .map((id) => ({
              InstanceId: id,
              PingStatus: "Online",
              PlatformName: "Ubuntu",
              AgentVersion: "3.3.0.0",
            })),
        });
      }
      case "SendCommand": {
        const [instanceId = ""] = (input.InstanceIds as string[]) ?? [];
        const params = (input.Parameters as Record<string, string[]>) ?? {};
        const cmd: Command = {
          commandId: randomUUID(),
          instanceId,
          comment: String(input.Comment ?? ""),
          status: "InProgress",
          stdout: "",
          stderr: "",
          done: Promise.resolve(),
        };
        commands.push(cmd);
        runCommand(cmd, params.commands ?? []);
        return json(res, 200, {
          Command: {
            CommandId: cmd.commandId,
            Comment: cmd.comment,
            Status: "Pending",
            InstanceIds: [instanceId],
          },
        });
      }
      case "ListCommands":
        return json(res, 200, {
          Commands: commands
            .filter((c) => !input.InstanceId || c.instanceId === input.InstanceId)
            .map((c) => ({
              CommandId: c.commandId,
              Comment: c.comment,
              Status: c.status,
              InstanceIds: [c.instanceId],
            })),
        });
      case "GetCommandInvocation": {
        const c = commands.find((x) => x.commandId === input.CommandId);
        if (!c) return json(res, 400, { __type: "InvocationDoesNotExist", message: "no such command" });
        return json(res, 200, {
          CommandId: c.commandId,
          InstanceId: c.instanceId,
          Status: c.status,
          StandardOutputContent: c.stdout.slice(-24_000),
          StandardErrorContent: c.stderr.slice(-8_000),
        });
      }
    }
    return undefined;
  };

  const forward = async (req: IncomingMessage, body: Buffer, res: ServerResponse, crash: boolean) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      // curl asks `Expect: 100-continue` for large parts; Node answered it already, fetch refuses it.
      if (v === undefined || ["host", "connection", "transfer-encoding", "expect"].includes(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(",") : v;
    }
    const answer = await fetch(`${options.motoUrl}${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      headers,
      ...(body.length > 0 && req.method !== "GET" && req.method !== "HEAD" ? { body } : {}),
    });
    const data = Buffer.from(await answer.arrayBuffer());
    if (crash) {
      req.socket.destroy();
      return;
    }
    const out: Record<string, string> = {};
    answer.headers.forEach((v, k) => {
      if (k !== "content-encoding" && k !== "transfer-encoding" && k !== "content-length") out[k] = v;
    });
    res.writeHead(answer.status, out);
    res.end(data);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const target = String(req.headers["x-amz-target"] ?? "");
        try {
          if (target.startsWith("AmazonSSM.")) {
            const op = target.slice("AmazonSSM.".length);
            const input = body.length > 0 ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
            if (op === "SendCommand") mutations.push("ssm:SendCommand");
            if (ssm(op, input, res) !== undefined || res.writableEnded) return;
          }
          if (target.endsWith("CloudTrail_20131101.LookupEvents")) {
            const input = JSON.parse(body.toString() || "{}") as {
              LookupAttributes?: { AttributeKey: string; AttributeValue: string }[];
            };
            const name = input.LookupAttributes?.find(
              (a) => a.AttributeKey === "ResourceName",
            )?.AttributeValue;
            return json(res, 200, {
              Events: trail
                .filter((e) => !name || e.ids.includes(name))
                .map((e, i) => ({
                  EventId: `ev-${i}`,
                  EventName: e.name,
                  EventTime: e.time / 1000,
                  EventSource: "ec2.amazonaws.com",
                  Username: "responder",
                  ReadOnly: "false",
                })),
            });
          }
          // Which AWS call this is, for the trail and the crash counter.
          let mutating: string | undefined;
          const form = String(req.headers["content-type"] ?? "").includes("x-www-form-urlencoded")
            ? new URLSearchParams(body.toString())
            : undefined;
          const action = form?.get("Action") ?? "";
          if (MUTATING_EC2.has(action)) {
            mutating = `ec2:${action}`;
            trail.push({
              name: action,
              time: Date.now(),
              ids: [...new Set(body.toString().match(/i-[0-9a-f]{8,17}/g) ?? [])],
            });
          } else if (action === "RunInstances") {
            trail.push({ name: action, time: Date.now(), ids: [] });
          } else if (action === "Publish") mutating = "sns:Publish";
          const fromCurl = String(req.headers["user-agent"] ?? "").startsWith("curl/");
          if (!form && !target && (req.method === "PUT" || req.method === "POST") && !fromCurl)
            mutating = `s3:${req.method}`;
          let crash = false;
          if (mutating) {
            mutations.push(mutating);
            counted++;
            if (crashAt > 0 && counted === crashAt) {
              crashAt = 0;
              crash = true;
            }
          }
          await forward(req, body, res, crash);
          // RunInstances answers name the new instance: the trail needs it.
        } catch (error) {
          if (!res.headersSent) json(res, 500, { __type: "InternalFailure", message: String(error) });
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    manage: (id) => managed.add(id),
    crashAfter: (n) => {
      crashAt = n;
      counted = 0;
    },
    mutations,
    commands,
    settle: async () => {
      await Promise.all(commands.map((c) => c.done));
    },
    stop: async () => {
      await Promise.all(commands.map((c) => c.done));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await rm(work, { recursive: true, force: true });
    },
  };
}
