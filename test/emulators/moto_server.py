"""
ops-rig's launcher for moto 5.2.1: moto's own server plus the few things the project's local AWS
needs and moto lacks (see test/emulators/EMULATOR.md). Started by test/emulators/moto.ts; not a
general-purpose tool.

- Binds 127.0.0.1 on a port the OS picks and prints one JSON line {"ready": true, "port": N} on stdout.
- Exits when stdin closes (the Node parent died) or on SIGTERM/SIGINT, so it never outlives its owner.
- Seeded public AMIs (any owner, per-region ids, creation dates, deprecation times) are added to
  every EC2 backend of their region, in every account, now and whenever moto creates or resets one;
  the matching public /aws/service/... SSM parameters likewise. More can be added at run time.
- Fixes moto gaps on the wire: DescribeImages hides deprecated public images unless
  IncludeDeprecated (and returns images in varying order, as EC2 does); RegisterImage keeps
  Architecture, RootDeviceName and TagSpecifications; CopyImage honours ClientToken, CopyImageTags
  and TagSpecifications; Enable/DisableImageDeprecation work.
- Control endpoints under /_ops-rig/ (JSON): seed, reset, register-image, image-state.

Relies on moto internals (AmiBackend, ParameterDict, response classes), hence the version pin.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

import moto  # noqa: E402

REQUIRED_MOTO = "5.2.1"
if moto.__version__ != REQUIRED_MOTO:
    sys.stderr.write(
        f"ops-rig moto launcher: needs moto {REQUIRED_MOTO} (it patches moto internals), found {moto.__version__}\n"
    )
    sys.exit(3)

from moto.core.responses import ActionResult  # noqa: E402
from moto.ec2.exceptions import InvalidAMIIdError, InvalidParameterDependency  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ec2.models.amis import Ami, AmiBackend  # noqa: E402
from moto.ec2.responses.amis import AmisResponse  # noqa: E402
from moto.ec2.utils import random_ami_id  # noqa: E402
from moto.moto_api._internal.models import moto_api_backend  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from moto.ssm.models import Parameter, ParameterDict, ssm_backends  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

LOCK = threading.RLock()


def _speed_up_moto() -> None:
    """
    Costs moto pays on every request or reset that the local AWS does not need (measured with
    cProfile over test/e2e/faults.test.ts: 10 of 43 s of moto's CPU; the service models below later):
    - RSA keys: moto makes a 2048-bit key for every KMS key (also the aws/ebs key it creates for the
      first encrypted volume of each region after a reset) and for SNS signatures, 0.1 s each. One
      key per size is reused: the emulator's signatures and ciphertexts are not a secret anyone checks.
    - Routing: every request lists moto's package folder from disk (os.listdir, then isdir for each
      entry) to match the Host header. The folder does not change while the server runs.
    - Dispatch and service models: see below.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from moto import backends

    generate = rsa.generate_private_key
    keys: dict[tuple[int, int], Any] = {}
    key_lock = threading.Lock()

    def reused_private_key(public_exponent: int, key_size: int, backend: Any = None) -> Any:
        with key_lock:
            key = keys.get((public_exponent, key_size))
            if key is None:
                key = keys[(public_exponent, key_size)] = generate(public_exponent, key_size)
            return key

    rsa.generate_private_key = reused_private_key  # type: ignore[assignment]

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]

    # Dispatch: every request lists its response class's methods with inspect.getmembers. Classes do
    # not gain methods at run time; a copy of the cached list goes out, as the caller may change it.
    from moto.core import responses

    method_names = responses.method_names_from_class
    names_by_class: dict[object, list[str]] = {}

    def cached_method_names(clazz: object) -> list[str]:
        names = names_by_class.get(clazz)
        if names is None:
            names = names_by_class[clazz] = method_names(clazz)
        return list(names)

    responses.method_names_from_class = cached_method_names  # type: ignore[assignment]

    # Service models: moto makes a new botocore loader for every model it loads, and a new botocore
    # Session (with its own loader) for every package whose error it first answers, to map package
    # names to service names. Each loader lists ~900 folders from disk on first use: ~20 times per
    # moto process (the cli and faults e2e files on one moto: 17.0 → 15.8 s of its CPU). One loader
    # and one mapping do: the folders do not change while the server runs.
    from botocore.session import Session
    from moto.core import loaders
    from moto.core import utils as moto_utils

    loader = loaders.create_loader()
    moto_utils.create_loader = lambda: loader  # type: ignore[assignment]
    lookup: dict[str, str] = {}
    lookup_lock = threading.Lock()

    def service_name_from_moto_package_name(package: str) -> str:
        with lookup_lock:
            if not lookup:
                lookup.update({name.replace("-", ""): name for name in Session().get_available_services()})
        return lookup.get(package, package)

    moto_utils.service_name_from_moto_package_name = service_name_from_moto_package_name  # type: ignore[assignment]


_speed_up_moto()
# Seeded public AMIs and parameter versions, in publication order. Each entry names its region.
SEED_AMIS: list[dict[str, Any]] = []
SEED_PARAMETERS: list[dict[str, Any]] = []
SEEDED_PARAMETER_PREFIXES = ("/aws/service/canonical/", "/aws/service/debian/")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------- EC2


def add_seeded_ami(backend: Any, spec: dict[str, Any]) -> None:
    if spec["imageId"] in backend.amis:
        return
    ami = Ami(
        backend,
        spec["imageId"],
        name=spec["name"],
        description=spec.get("description"),
        owner_id=spec["ownerId"],
        owner_alias=spec.get("ownerAlias"),
        public=spec.get("public", True),
        virtualization_type="hvm",
        architecture=spec["architecture"],
        state="available",
        creation_date=parse_time(spec["creationDate"]),
        image_location=spec.get("imageLocation"),
        hypervisor="xen",
        root_device_type="ebs",
        root_device_name=spec.get("rootDeviceName", "/dev/sda1"),
        region_name=f"{backend.region_name}a",
        boot_mode=spec.get("bootMode", "uefi-preferred"),
    )
    ami.deprecation_time = spec.get("deprecationTime")
    # Publishers' images: one 8 GiB unencrypted root volume (gp3 for Canonical's hvm-ssd-gp3 line).
    volume_type = "gp3" if "gp3" in spec["name"] or spec["name"].startswith("debian-") else "gp2"
    set_block_devices(
        backend,
        ami,
        [
            {
                "deviceName": spec.get("rootDeviceName", "/dev/sda1"),
                "volumeSize": 8,
                "volumeType": volume_type,
                "encrypted": False,
                "deleteOnTermination": True,
            }
        ],
        f"Snapshot of {spec['name']}",
    )
    backend.amis[ami.id] = ami


def set_block_devices(backend: Any, ami: Any, devices: list[dict[str, Any]], description: str) -> None:
    """
    Gives an AMI the volumes it was made with: one snapshot per EBS volume, encrypted as asked
    (`encrypted` without `kmsKeyId` takes the region's default EBS key, as EC2 does). moto makes
    every AMI a 15 GiB unencrypted `standard` snapshot; that one is dropped.
    """
    zone = f"{backend.region_name}a"
    auto = getattr(ami, "ebs_snapshot", None)
    if auto is not None:
        backend.snapshots.pop(auto.id, None)
    mappings: list[dict[str, Any]] = []
    for device in devices:
        encrypted = bool(device.get("encrypted")) or bool(device.get("kmsKeyId"))
        volume = backend.create_volume(
            size=int(device["volumeSize"]),
            zone_name=zone,
            encrypted=encrypted,
            kms_key_id=device.get("kmsKeyId") if encrypted else None,
        )
        snapshot = backend.create_snapshot(volume.id, description, ami.owner_id, from_ami=ami.id)
        snapshot.kms_key_id = volume.kms_key_id if encrypted else None
        backend.delete_volume(volume.id)
        ebs: dict[str, Any] = {
            "SnapshotId": snapshot.id,
            "VolumeSize": int(device["volumeSize"]),
            "DeleteOnTermination": bool(device.get("deleteOnTermination", True)),
            "VolumeType": device.get("volumeType", "gp3"),
            "Encrypted": encrypted,
        }
        if encrypted and volume.kms_key_id:
            ebs["KmsKeyId"] = volume.kms_key_id
        if device.get("iops") is not None:
            ebs["Iops"] = int(device["iops"])
        if device.get("throughput") is not None:
            ebs["Throughput"] = int(device["throughput"])
        mappings.append({"DeviceName": device["deviceName"], "Ebs": ebs})
    if mappings:
        ami.ebs_snapshot = backend.snapshots[mappings[0]["Ebs"]["SnapshotId"]]
    ami.__dict__["_ops_rig_mappings"] = mappings


def devices_of(ami: Any) -> list[dict[str, Any]]:
    """An AMI's EBS volumes in set_block_devices' form."""
    out = []
    for mapping in ami.block_device_mappings:
        ebs = mapping.get("Ebs") or {}
        device = {
            "deviceName": mapping["DeviceName"],
            "volumeSize": ebs.get("VolumeSize", 8),
            "volumeType": ebs.get("VolumeType", "gp3"),
            "encrypted": bool(ebs.get("Encrypted", False)),
            "deleteOnTermination": bool(ebs.get("DeleteOnTermination", True)),
        }
        for key, name in (("KmsKeyId", "kmsKeyId"), ("Iops", "iops"), ("Throughput", "throughput")):
            if ebs.get(key) is not None:
                device[name] = ebs[key]
        out.append(device)
    return out


_original_block_device_mappings = Ami.block_device_mappings


def _block_device_mappings(self: Any) -> list[dict[str, Any]]:
    custom = self.__dict__.get("_ops_rig_mappings")
    return custom if custom is not None else _original_block_device_mappings.fget(self)


Ami.block_device_mappings = property(_block_device_mappings)  # type: ignore[assignment,method-assign]


_original_load_amis = AmiBackend._load_amis


def _load_amis(self: Any) -> None:
    _original_load_amis(self)
    with LOCK:
        for spec in SEED_AMIS:
            if spec["region"] == self.region_name:
                add_seeded_ami(self, spec)


AmiBackend._load_amis = _load_amis  # type: ignore[method-assign]


def is_deprecated(ami: Any) -> bool:
    when = getattr(ami, "deprecation_time", None)
    return bool(when) and parse_time(when) <= now_utc()


_original_describe_images = AmiBackend.describe_images


def _describe_images(self: Any, ami_ids=None, filters=None, exec_users=None, owners=None, include_deprecated=False):  # type: ignore[no-untyped-def]
    images = _original_describe_images(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
    if not ami_ids and not include_deprecated:
        # EC2 hides deprecated AMIs from everyone but their owner unless IncludeDeprecated is set.
        images = [a for a in images if not is_deprecated(a) or a.owner_id == self.account_id]
    images = list(images)
    # EC2 does not sort DescribeImages and its order varies: never let a caller rely on it.
    random.shuffle(images)
    return images


AmiBackend.describe_images = _describe_images  # type: ignore[method-assign]


def _tags_for(tag_specifications: list[dict[str, Any]], resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in tag_specifications or []:
        if spec.get("ResourceType") == resource_type:
            for tag in spec.get("Tags", []):
                tags[tag["Key"]] = tag.get("Value", "")
    return tags


def _describe_images_response(self: Any) -> ActionResult:
    self.error_on_dryrun()
    include = str(self._get_param("IncludeDeprecated", "false")).lower() == "true"
    images = self.ec2_backend.describe_images(
        ami_ids=self._get_param("ImageIds", []),
        filters=self._filters_from_querystring(),
        exec_users=self._get_param("ExecutableUsers", []),
        owners=self._get_param("Owners", []),
        include_deprecated=include,
    )
    return ActionResult({"Images": images})


def _register_image_response(self: Any) -> ActionResult:
    self.error_on_dryrun()
    backend = self.ec2_backend
    image = backend.register_image(self._get_param("Name"), self._get_param("Description", ""))
    architecture = self._get_param("Architecture")
    if architecture:
        image.architecture = architecture
    root = self._get_param("RootDeviceName")
    if root:
        image.root_device_name = root
    tags = _tags_for(self._get_param("TagSpecifications", []), "image")
    if tags:
        image.add_tags(tags)
    return ActionResult({"ImageId": image.id})


def _copy_image_response(self: Any) -> ActionResult:
    self.error_on_dryrun()
    backend = self.ec2_backend
    token = self._get_param("ClientToken")
    tokens = backend.__dict__.setdefault("_ops_rig_copy_tokens", {})
    if token and token in tokens and tokens[token] in backend.amis:
        # EC2 makes CopyImage idempotent on ClientToken: the same token returns the same copy.
        return ActionResult({"ImageId": tokens[token]})
    source_id = self._get_param("SourceImageId")
    source_region = self._get_param("SourceRegion")
    encrypt = str(self._get_param("Encrypted", "false")).lower() == "true"
    kms_key_id = self._get_param("KmsKeyId")
    if kms_key_id and not encrypt:
        raise InvalidParameterDependency("KmsKeyId", "Encrypted")
    image = backend.copy_image(source_id, source_region, self._get_param("Name"), self._get_param("Description"))
    # The copy's snapshots: encrypted when asked or when the source's were (an encrypted snapshot
    # cannot be copied unencrypted), with the given key or the destination region's default key.
    source_ami = ec2_backends[backend.account_id][source_region].amis.get(source_id)
    devices = []
    for device in devices_of(source_ami) if source_ami is not None else []:
        device.pop("kmsKeyId", None)
        if encrypt or device["encrypted"]:
            device["encrypted"] = True
            if kms_key_id:
                device["kmsKeyId"] = kms_key_id
        devices.append(device)
    set_block_devices(backend, image, devices, f"Copied for DestinationAmi {image.id} from SourceAmi {source_id}")
    tags: dict[str, str] = {}
    if str(self._get_param("CopyImageTags", "false")).lower() == "true":
        source = ec2_backends[backend.account_id][source_region].amis.get(source_id)
        if source is not None:
            tags.update({t["key"]: t["value"] for t in source.get_tags()})
    tags.update(_tags_for(self._get_param("TagSpecifications", []), "image"))
    if tags:
        image.add_tags(tags)
    if token:
        tokens[token] = image.id
    return ActionResult({"ImageId": image.id})


def _set_deprecation(self: Any, when: str | None) -> ActionResult:
    self.error_on_dryrun()
    image_id = self._get_param("ImageId")
    ami = self.ec2_backend.amis.get(image_id)
    if ami is None:
        raise InvalidAMIIdError(image_id)
    ami.deprecation_time = when
    return ActionResult({"Return": True})


def _enable_image_deprecation_response(self: Any) -> ActionResult:
    deprecate_at = self._get_param("DeprecateAt")
    if isinstance(deprecate_at, datetime):
        deprecate_at = iso(deprecate_at)
    return _set_deprecation(self, iso(parse_time(str(deprecate_at))))


def _disable_image_deprecation_response(self: Any) -> ActionResult:
    return _set_deprecation(self, None)


AmisResponse.describe_images = _describe_images_response  # type: ignore[method-assign]
AmisResponse.register_image = _register_image_response  # type: ignore[method-assign]
AmisResponse.copy_image = _copy_image_response  # type: ignore[method-assign]
AmisResponse.enable_image_deprecation = _enable_image_deprecation_response  # type: ignore[attr-defined]
AmisResponse.disable_image_deprecation = _disable_image_deprecation_response  # type: ignore[attr-defined]


def existing_backends(backends: Any, region: str) -> list[Any]:
    """Backends moto already created for this region (any account); creating none."""
    found = []
    for account_id in list(backends.keys()):
        per_account = dict.__getitem__(backends, account_id)
        if region in per_account.keys():
            found.append(dict.__getitem__(per_account, region))
    return found


# ---------------------------------------------------------------------------------------------- SSM


def seeded_parameter_versions(region: str) -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for spec in SEED_PARAMETERS:
        if spec["region"] == region:
            by_name.setdefault(spec["name"], []).append(spec)
    return by_name


def make_parameter(account_id: str, spec: dict[str, Any], version: int) -> Parameter:
    return Parameter(
        account_id=account_id,
        name=spec["name"],
        value=spec["value"],
        parameter_type="String",
        description=None,
        allowed_pattern=None,
        keyid=None,
        last_modified_date=parse_time(spec["lastModifiedDate"]),
        version=version,
        data_type=spec.get("dataType", "aws:ec2:image"),
        tier="Standard",
    )


_original_check_loading = ParameterDict._check_loading_status


def _check_loading_status(self: Any, key: str) -> None:
    _original_check_loading(self, key)
    key = str(key or "")
    wants = any(key.startswith(p) or p.startswith(key) for p in SEEDED_PARAMETER_PREFIXES) or key in ("", "/")
    if wants and not getattr(self, "_ops_rig_loaded", False):
        with LOCK:
            self._ops_rig_loaded = True
            for name, versions in seeded_parameter_versions(self.region_name).items():
                history = dict.__getitem__(self, name) if dict.__contains__(self, name) else []
                if not dict.__contains__(self, name):
                    dict.__setitem__(self, name, history)
                for spec in versions:
                    history.append(make_parameter(self.account_id, spec, len(history) + 1))


ParameterDict._check_loading_status = _check_loading_status  # type: ignore[method-assign]


# ------------------------------------------------------------------------------------ control API


def seed(body: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        for spec in body.get("amis", []):
            SEED_AMIS.append(spec)
            for backend in existing_backends(ec2_backends, spec["region"]):
                add_seeded_ami(backend, spec)
        for spec in body.get("parameters", []):
            SEED_PARAMETERS.append(spec)
            for backend in existing_backends(ssm_backends, spec["region"]):
                params = backend._parameters
                if getattr(params, "_ops_rig_loaded", False):
                    if not dict.__contains__(params, spec["name"]):
                        dict.__setitem__(params, spec["name"], [])
                    history = dict.__getitem__(params, spec["name"])
                    history.append(make_parameter(backend.account_id, spec, len(history) + 1))
    return {"amis": len(SEED_AMIS), "parameters": len(SEED_PARAMETERS)}


def reset(_body: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        SEED_AMIS.clear()
        SEED_PARAMETERS.clear()
        moto_api_backend.reset()
    return {"reset": True}


def register_image(body: dict[str, Any]) -> dict[str, Any]:
    """An AMI owned by the account, as Image Builder's distribution creates it (with architecture and tags)."""
    with LOCK:
        backend = ec2_backends[body["accountId"]][body["region"]]
        image_id = random_ami_id()
        ami = Ami(
            backend,
            image_id,
            name=body["name"],
            description=body.get("description"),
            owner_id=body["accountId"],
            public=False,
            virtualization_type="hvm",
            architecture=body["architecture"],
            state=body.get("state", "available"),
            creation_date=parse_time(body["creationDate"]) if body.get("creationDate") else None,
            hypervisor="xen",
            root_device_type="ebs",
            root_device_name=body.get("rootDeviceName", "/dev/sda1"),
            region_name=f"{body['region']}a",
            boot_mode="uefi-preferred",
            tags=body.get("tags") or None,
        )
        if body.get("blockDevices"):
            set_block_devices(backend, ami, body["blockDevices"], f"Created by EC2 Image Builder for {image_id}")
        backend.amis[image_id] = ami
        return {"imageId": image_id}


def image_state(body: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        backend = ec2_backends[body["accountId"]][body["region"]]
        ami = backend.amis.get(body["imageId"])
        if ami is None:
            return {"found": False}
        ami.state = body["state"]
        reason = body.get("reason")
        ami.state_reason = {"Code": reason["code"], "Message": reason["message"]} if reason else None
        return {"found": True}


CONTROL = {"seed": seed, "reset": reset, "register-image": register_image, "image-state": image_state}


class ControlApp:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_ops-rig/"):
            return self.inner(environ, start_response)
        request = Request(environ)
        handler = CONTROL.get(path[len("/_ops-rig/") :])
        if handler is None or request.method != "POST":
            return Response(json.dumps({"error": f"unknown control call {request.method} {path}"}), 404)(
                environ, start_response
            )
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
            result = handler(body)
            response = Response(json.dumps(result), 200, content_type="application/json")
        except Exception as error:  # noqa: BLE001 - answered to the harness, logged here
            logging.exception("control call %s failed", path)
            response = Response(json.dumps({"error": f"{type(error).__name__}: {error}"}), 500)
        return response(environ, start_response)


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host = os.environ.get("OPS_RIG_MOTO_HOST", "127.0.0.1")
    app = ControlApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, 0, app, threaded=True)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)

    def stop(*_args: Any) -> None:
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_parent() -> None:
        # The harness holds our stdin open; EOF means it is gone, and so must we be.
        while sys.stdin.buffer.read(1024):
            pass
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    # Import the services the harness uses now, so the first real request is not the slow one.
    for backends in (ec2_backends, ssm_backends):
        _ = backends["123456789012"]
    from moto.iam.models import iam_backends  # noqa: F401
    from moto.sns.models import sns_backends  # noqa: F401
    from moto.sqs.models import sqs_backends  # noqa: F401
    from moto.sts.models import sts_backends  # noqa: F401

    sys.stdout.write(json.dumps({"ready": True, "port": port, "moto": moto.__version__, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
