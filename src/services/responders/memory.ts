// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are bash, where ${...} is bash's own expansion
import {
  adoptSteps,
  audited,
  type CaseRequest,
  custodyStep,
  evidenceLocation,
  findInstance,
  type ResponderDeps,
  runSteps,
} from "./common.js";
import { ResponderFailedError, ResponderRefusedError } from "./errors.js";
import type { CommandInfo } from "./ports.js";
import { chunkKeys, chunkTag, RTAG, readChunks } from "./tags.js";

export interface CaptureRequest extends CaseRequest {
  readonly instanceId: string;
  /** HTTPS URL of a LiME module built for the target's kernel (`lime-build` on a matching rig). */
  readonly limeUrl?: string;
  /** SHA-256 of that module: the target refuses to load anything else. */
  readonly limeSha256?: string;
  readonly maxWaitMs?: number;
}

export interface CaptureResult {
  readonly instanceId: string;
  readonly region: string;
  readonly dryRun: boolean;
  readonly path: "ssm" | "ssh";
  readonly location: string;
  readonly status: "captured" | "already-captured" | "would-capture" | "instructions";
  readonly commandId?: string;
  readonly sha256?: string;
  readonly bytes?: number;
  /** The script Run Command runs (SSM path), or the steps a responder follows over SSH. */
  readonly script: string;
  readonly steps: readonly string[];
  readonly changes: readonly string[];
}

/** Run Command's comment (≤ 100 characters): how a re-run finds the capture it started. */
export const captureComment = (caseId: string): string =>
  `ops-rig capture-memory case ${caseId}`.slice(0, 100);

/** At most this many parts: each is a presigned URL inside the command (its size limit is unverified). */
export const MAX_PARTS = 32;
const MiB = 1024 * 1024;
/** Presigned part URLs live this long: the capture must have finished uploading by then. */
const URL_SECONDS = 6 * 3600;
/** Our guess at a safe Run Command parameter size (the documented limit could not be verified). */
export const MAX_SCRIPT_BYTES = 64 * 1024;

export function partPlan(memoryMiB: number): { partBytes: number; parts: number } {
  // LiME writes every RAM range plus a 32-byte header per range: leave room for both.
  const total = (memoryMiB + 64) * MiB;
  const partMiB = Math.max(8, Math.ceil(total / MAX_PARTS / MiB));
  if (partMiB > 5 * 1024)
    throw new ResponderRefusedError(
      "TOO_MUCH_MEMORY",
      `${memoryMiB} MiB of memory needs parts over S3's 5 GiB limit`,
    );
  return { partBytes: partMiB * MiB, parts: Math.ceil(total / (partMiB * MiB)) };
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The script Run Command runs as root on the target. LiME serves the dump on a loopback TCP port;
 * bash reads it part by part into tmpfs (RAM, never the target's disks) and PUTs each part to its
 * presigned URL, hashing the whole stream on the way. Nothing touches the target's file systems but
 * /dev/shm. Prints OPS_RIG_* lines the service reads back.
 */
/**
 * The first port the capture script tries for LiME on the target's loopback: below Linux's ephemeral
 * range (32768-60999), so an outbound connection is unlikely to hold it; the script moves on if one does.
 */
export const limePort = (instanceId: string): number =>
  20000 + (Number.parseInt(instanceId.slice(-4), 16) % 10000);

export function captureScript(input: {
  readonly limeUrl: string;
  readonly limeSha256: string;
  readonly partBytes: number;
  readonly partUrls: readonly string[];
  readonly uploadId: string;
  readonly port: number;
}): string[] {
  return [
    "#!/bin/bash",
    "set -euo pipefail",
    "umask 077",
    `port=${input.port}`,
    `part_bytes=${input.partBytes}`,
    `upload_id=${quote(input.uploadId)}`,
    "urls=(",
    ...input.partUrls.map((u) => `  ${quote(u)}`),
    ")",
    "work=$(mktemp -d /dev/shm/ops-rig-capture.XXXXXX)",
    'cleanup() { exec 3<&- 2>/dev/null || true; rmmod lime 2>/dev/null || true; rm -rf "$work"; }',
    "trap cleanup EXIT",
    'echo "OPS_RIG_KERNEL=$(uname -r)"',
    'if lsmod | grep -q "^lime "; then echo "a lime module is already loaded" >&2; exit 3; fi',
    `curl -fsS --retry 3 -o "$work/lime.ko" ${quote(input.limeUrl)}`,
    `echo ${quote(`${input.limeSha256}  `)}"$work/lime.ko" | sha256sum -c --quiet -`,
    // A port some other socket holds (the box is not ours to know) makes LiME's bind fail: move on.
    'for _ in $(seq 1 50); do ss -Htan "sport = :${port}" | grep -q . || break; port=$((port + 1)); done',
    'insmod "$work/lime.ko" "path=tcp:${port} format=lime" &',
    "insmod_pid=$!",
    'for _ in $(seq 1 300); do ss -Hltn "sport = :${port}" | grep -q . && break; sleep 0.2; done',
    'exec 3<>"/dev/tcp/127.0.0.1/${port}"',
    'mkfifo "$work/stream"',
    'sha256sum <"$work/stream" >"$work/sha" &',
    "hash_pid=$!",
    'exec 4>"$work/stream"',
    "total=0",
    "n=0",
    'for url in "${urls[@]}"; do',
    '  head -c "$part_bytes" <&3 >"$work/part"',
    '  size=$(stat -c %s "$work/part")',
    '  [ "$size" -gt 0 ] || break',
    '  cat "$work/part" >&4',
    "  n=$((n + 1))",
    // S3 answers each part with its ETag; CompleteMultipartUpload needs them (nobody may list parts).
    '  etag=$(curl -fsS --retry 5 -X PUT -T "$work/part" "$url" -o /dev/null -D - | tr -d "\\r" | sed -n "s/^[Ee][Tt][Aa][Gg]: *//p")',
    '  [ -n "$etag" ] || { echo "part $n: no ETag in the answer" >&2; exit 5; }',
    '  echo "OPS_RIG_PART=$n $etag"',
    "  total=$((total + size))",
    '  [ "$size" -eq "$part_bytes" ] || break',
    "done",
    'if [ "$(head -c 1 <&3 | wc -c)" -ne 0 ]; then echo "the capture is larger than the parts prepared" >&2; exit 4; fi',
    "exec 4>&-",
    'wait "$hash_pid"',
    'wait "$insmod_pid" || true',
    'echo "OPS_RIG_UPLOAD_ID=$upload_id"',
    'echo "OPS_RIG_PARTS=$n"',
    'echo "OPS_RIG_BYTES=$total"',
    'echo "OPS_RIG_SHA256=$(cut -d" " -f1 "$work/sha")"',
  ];
}

/** The OPS_RIG_* lines of a finished capture. */
export function parseCaptureOutput(stdout: string): {
  uploadId?: string;
  sha256?: string;
  bytes?: number;
  kernel?: string;
  parts: { partNumber: number; etag: string }[];
} {
  const value = (key: string) => new RegExp(`^OPS_RIG_${key}=(.*)$`, "m").exec(stdout)?.[1]?.trim();
  const parts = [...stdout.matchAll(/^OPS_RIG_PART=(\d+) (\S+)\s*$/gm)].map((m) => ({
    partNumber: Number(m[1]),
    etag: m[2] ?? "",
  }));
  const bytes = value("BYTES");
  const uploadId = value("UPLOAD_ID");
  const sha = value("SHA256");
  const kernel = value("KERNEL");
  return {
    parts,
    ...(uploadId ? { uploadId } : {}),
    ...(sha && /^[0-9a-f]{64}$/.test(sha) ? { sha256: sha } : {}),
    ...(bytes && /^\d+$/.test(bytes) ? { bytes: Number(bytes) } : {}),
    ...(kernel ? { kernel } : {}),
  };
}

/** Without SSM: what a responder does from the rig (after `ops-rig ssh-route`). */
export function sshSteps(input: {
  instanceId: string;
  address: string;
  bucket: string;
  key: string;
  region: string;
}): string[] {
  return [
    `# ${input.instanceId} is not SSM-managed: capture over SSH from the rig (after ops-rig ssh-route).`,
    "# 1. On a rig whose kernel matches the target's (uname -r), build the module: lime-build --kernel <target uname -r>",
    `# 2. Copy it over: scp lime.ko <user>@${input.address}:/dev/shm/lime.ko`,
    `# 3. Load it serving on the target's loopback: ssh <user>@${input.address} 'sudo insmod /dev/shm/lime.ko "path=tcp:4444 format=lime"' &`,
    `# 4. Stream it through SSH to the bucket, hashing on the way (nothing written to the target's disks):`,
    `ssh -L 4444:127.0.0.1:4444 <user>@${input.address} -N & sleep 2`,
    `nc 127.0.0.1 4444 | tee >(sha256sum > memory.sha256) | aws s3 cp --region ${input.region} --expected-size 68719476736 - s3://${input.bucket}/${input.key}`,
    "# 5. Record memory.sha256 in the case notes; ssh in and rmmod lime.",
  ];
}

/**
 * `ops-rig capture-memory`: on an SSM-managed target, Run Command loads LiME and streams the dump to
 * a presigned multipart upload in the region's evidence bucket; the service then completes the
 * upload, records the hash in the chain of custody and on the instance. A re-run finds the command
 * by its comment: a capture that succeeded is never taken twice.
 */
export async function captureMemory(deps: ResponderDeps, request: CaptureRequest): Promise<CaptureResult> {
  return audited(deps, { ...request, command: "capture-memory", target: request.instanceId }, async () => {
    const { region, caseId } = request;
    const instance = await findInstance(deps, region, request.instanceId);
    if (instance.state !== "running")
      throw new ResponderRefusedError(
        "NOT_RUNNING",
        `${instance.instanceId} is ${instance.state}: memory exists only while it runs`,
      );
    const changes = await runSteps(deps, request, await adoptSteps(deps, request, instance));
    const location = await evidenceLocation(deps, request);
    const key = `${location.prefix}memory/${instance.instanceId}.lime`;
    const s3 = `s3://${location.bucket}/${key}`;
    const base = { instanceId: instance.instanceId, region, dryRun: Boolean(request.dryRun), location: s3 };
    const recorded = instance.tags[RTAG.memorySha256];
    if (recorded) {
      // A crash may have come between recording the hash and forgetting the upload.
      const leftover = chunkKeys(instance.tags, RTAG.memoryUpload);
      if (leftover.length > 0)
        changes.push(
          ...(await runSteps(deps, request, [
            {
              resource: instance.instanceId,
              change: `remove ${leftover.join(", ")}`,
              run: () => deps.port.untag(region, [instance.instanceId], leftover),
            },
          ])),
        );
      return {
        ...base,
        path: "ssm" as const,
        status: "already-captured" as const,
        sha256: recorded,
        script: "",
        steps: [],
        changes,
      };
    }
    const managed = await deps.port.managedInstance(region, instance.instanceId);
    if (managed?.pingStatus !== "Online") {
      return {
        ...base,
        path: "ssh" as const,
        status: "instructions" as const,
        script: "",
        steps: sshSteps({
          instanceId: instance.instanceId,
          address: instance.privateIp ?? "<target address>",
          bucket: location.bucket,
          key,
          region,
        }),
        changes,
      };
    }
    const comment = captureComment(caseId);
    const previous = await deps.port.commandsWithComment(region, instance.instanceId, comment);
    let command: CommandInfo | undefined =
      previous.find((c) => c.status === "Success") ??
      previous.find((c) => ["Pending", "InProgress", "Delayed"].includes(c.status));
    let script = "";
    if (!command) {
      if (!request.limeUrl || !request.limeSha256)
        throw new ResponderRefusedError(
          "NO_LIME_MODULE",
          "give the LiME module for the target's kernel: --lime-url (https, e.g. a presigned URL of lime-build's output) and --lime-sha256",
          "--lime-url",
        );
      const memoryMiB = await deps.port.memoryMiB(region, instance.instanceType);
      if (!memoryMiB)
        throw new ResponderFailedError(
          "UNKNOWN_MEMORY",
          `EC2 does not know the memory size of ${instance.instanceType}`,
        );
      const plan = partPlan(memoryMiB);
      const port = limePort(instance.instanceId);
      if (request.dryRun) {
        script = captureScript({
          limeUrl: request.limeUrl,
          limeSha256: request.limeSha256,
          partBytes: plan.partBytes,
          partUrls: Array.from({ length: plan.parts }, (_, i) => `<presigned UploadPart URL ${i + 1}>`),
          uploadId: "<upload id>",
          port,
        }).join("\n");
        changes.push(
          `${instance.instanceId}: Run Command (AWS-RunShellScript) capturing ${memoryMiB} MiB in ${plan.parts} parts to ${s3}`,
        );
        return {
          ...base,
          path: "ssm" as const,
          status: "would-capture" as const,
          script,
          steps: [],
          changes,
        };
      }
      // The upload id lives on the instance: a re-run after a crash streams into the same upload.
      let uploadId = readChunks(instance.tags, RTAG.memoryUpload);
      if (!uploadId) {
        const id = await deps.port.createUpload(region, { bucket: location.bucket, key });
        uploadId = id;
        changes.push(`${s3}: multipart upload started`);
        changes.push(
          ...(await runSteps(deps, request, [
            {
              resource: instance.instanceId,
              change: `tag ${RTAG.memoryUpload}`,
              run: () => deps.port.tag(region, [instance.instanceId], chunkTag(RTAG.memoryUpload, id)),
            },
          ])),
        );
      }
      const partUrls = await deps.port.presignParts(region, {
        bucket: location.bucket,
        key,
        uploadId,
        parts: plan.parts,
        expiresSeconds: URL_SECONDS,
      });
      const lines = captureScript({
        limeUrl: request.limeUrl,
        limeSha256: request.limeSha256,
        partBytes: plan.partBytes,
        partUrls,
        uploadId,
        port,
      });
      script = lines.join("\n");
      if (Buffer.byteLength(script) > MAX_SCRIPT_BYTES)
        throw new ResponderRefusedError(
          "SCRIPT_TOO_LARGE",
          `the capture script is ${Buffer.byteLength(script)} bytes, over ${MAX_SCRIPT_BYTES}`,
        );
      const commandId = await deps.port.sendCommand(region, {
        instanceId: instance.instanceId,
        comment,
        commands: lines,
        timeoutSeconds: URL_SECONDS,
      });
      changes.push(`${instance.instanceId}: Run Command ${commandId} capturing to ${s3}`);
      deps.events({
        type: "responder-change",
        region,
        resource: instance.instanceId,
        change: `Run Command ${commandId}`,
      });
      command = { commandId, comment, status: "Pending" };
    } else if (request.dryRun) {
      return {
        ...base,
        path: "ssm" as const,
        status: "would-capture" as const,
        commandId: command.commandId,
        script: "",
        steps: [],
        changes,
      };
    }
    command = await waitForCommand(deps, request, command);
    const out = parseCaptureOutput(command.stdout ?? "");
    if (!out.uploadId || !out.sha256)
      throw new ResponderFailedError(
        "CAPTURE_OUTPUT",
        `Run Command ${command.commandId} succeeded but did not report its upload and hash`,
      );
    const uploadId = out.uploadId;
    const sha = out.sha256;
    if (out.parts.length === 0)
      throw new ResponderFailedError(
        "CAPTURE_OUTPUT",
        `Run Command ${command.commandId} reported no uploaded parts`,
      );
    if (await deps.port.completeUpload(region, { bucket: location.bucket, key, uploadId, parts: out.parts }))
      changes.push(`${s3}: upload completed`);
    const bytes = out.bytes;
    const uploadKeys = chunkKeys(
      (await findInstance(deps, region, instance.instanceId)).tags,
      RTAG.memoryUpload,
    );
    changes.push(
      ...(await runSteps(deps, request, [
        custodyStep(deps, region, location, `memory-${instance.instanceId}`, {
          caseId,
          artefact: s3,
          kind: "memory-capture",
          region,
          source: instance.instanceId,
          sha256: sha,
          location: s3,
          recordedBy: location.actor,
          at: deps.now().toISOString(),
          details: { commandId: command.commandId, bytes, kernel: out.kernel, format: "lime" },
        }),
        {
          resource: instance.instanceId,
          change: `tag ${RTAG.memorySha256}=${sha}`,
          run: () => deps.port.tag(region, [instance.instanceId], { [RTAG.memorySha256]: sha }),
        },
        ...(uploadKeys.length > 0
          ? [
              {
                resource: instance.instanceId,
                change: `remove ${uploadKeys.join(", ")}`,
                run: () => deps.port.untag(region, [instance.instanceId], uploadKeys),
              },
            ]
          : []),
      ])),
    );
    return {
      ...base,
      path: "ssm" as const,
      status: "captured" as const,
      commandId: command.commandId,
      sha256: sha,
      ...(bytes ? { bytes } : {}),
      script,
      steps: [],
      changes,
    };
  });
}

async function waitForCommand(
  deps: ResponderDeps,
  request: CaptureRequest,
  initial: CommandInfo,
): Promise<CommandInfo> {
  const start = deps.now().getTime();
  let command = initial;
  for (;;) {
    if (command.status === "Success") return command;
    if (
      ["Failed", "Cancelled", "TimedOut", "Cancelling", "Undeliverable", "Terminated"].includes(
        command.status,
      )
    )
      throw new ResponderFailedError(
        "CAPTURE_FAILED",
        `Run Command ${command.commandId} ended ${command.status}${command.stderr ? `: ${command.stderr.trim().slice(-500)}` : ""}; a re-run starts a new capture`,
      );
    if (deps.now().getTime() - start > (request.maxWaitMs ?? URL_SECONDS * 1000))
      throw new ResponderFailedError(
        "CAPTURE_TIMEOUT",
        `Run Command ${command.commandId} is still ${command.status}; run capture-memory again to pick it up`,
      );
    deps.events({ type: "command-waiting", commandId: command.commandId, status: command.status });
    await deps.sleep(deps.pollMs ?? 10_000);
    const found = await deps.port.commandsWithComment(request.region, request.instanceId, command.comment);
    command = found.find((c) => c.commandId === command.commandId) ?? command;
  }
}
