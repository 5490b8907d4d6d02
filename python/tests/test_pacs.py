"""PACS in, FHIR out (issue #31), with real software on loopback: Debian's Orthanc with its
DICOMweb plugin (started here with a generated configuration, stopped by its PID), the node
(conftest's `more-node`), a recording proxy in front of the node, `more-client` and this package.

- DICOM files (written with pydicom: two XA studies of two patients, one of them a 2-frame cine
  run, and a CT study; plus pydicom's real MR_small.dcm when .ci/fetch-dicom-test-files.sh has run)
  are stored by STOW-RS; `more-client upload --dicomweb ... --study ...` and
  `more_client.dicomweb.upload(..., modality="XA", study_date=...)` give the same decrypted
  tensors (<= 1e-6) as `more-client upload --images` of the same files from a folder;
- no patient attribute (name, id, birth date) and no DICOM UID reaches the node: every request
  the proxy recorded (line, headers, body) is searched; a run that names the data set after a
  patient shows the search finds one;
- `more-client predict --fhir` and `more_client.fhir.bundle` validate with `fhir.resources`
  (R4B models: RiskAssessment and Observation are unchanged from R4), and a broken Bundle is
  refused.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import struct
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

import pydicom
from fhir.resources.R4B.bundle import Bundle
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import wait_until_answers

import more_client
from more_client import Ciphertext, SecretKey
from more_client import dicomweb, fhir

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "pacs test passphrase"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
XA_SOP = "1.2.840.10008.5.1.4.1.1.12.1"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"


def _required(what: str) -> None:
    if os.environ.get("MORE_REQUIRE_PACS"):
        pytest.fail(f"{what} is missing (MORE_REQUIRE_PACS is set): bash .ci/setup-tests")
    pytest.skip(f"{what} is missing: bash .ci/setup-tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ DICOM files


PATIENTS = [
    {"PatientName": "Doe^Jane", "PatientID": "PID-7741", "PatientBirthDate": "19610203"},
    {"PatientName": "Roe^Richard", "PatientID": "PID-9902", "PatientBirthDate": "19700512"},
    {"PatientName": "Poe^Edgar", "PatientID": "PID-3318", "PatientBirthDate": "19491007"},
]


def _dicom(path: Path, patient: dict, study: str, modality: str, date: str, seed: int,
           frames: int = 1, window: bool = False) -> dict:
    """Writes a little-endian uncompressed 16-bit DICOM file; returns its identifiers."""
    rng = np.random.default_rng(seed)
    rows, cols = 40, 52
    pixels = rng.integers(0, 4000, size=(frames, rows, cols), dtype=np.uint16)
    pixels[:, 10:20, 15:30] += 2000  # a structure, so frames differ from noise only
    meta = FileMetaDataset()
    sop = generate_uid()
    meta.MediaStorageSOPClassUID = XA_SOP if modality == "XA" else CT_SOP
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    for k, v in patient.items():
        setattr(ds, k, v)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.StudyDate, ds.Modality, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = (
        date, modality, "1", 1, seed)
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if window:
        ds.WindowCenter, ds.WindowWidth = 2500, 4000
    ds.PixelData = pixels.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return {"study": study, "sop": sop, "path": path, **patient}


@pytest.fixture(scope="module")
def dicom_files(tmp_path_factory):
    """(files, labels by study): XA studies A (Doe, stenosis, 2 files, one a 2-frame cine) and B
    (Roe, normal, 2 files), CT study C (Poe, normal), and pydicom's MR_small.dcm (study D,
    stenosis) when present."""
    d = tmp_path_factory.mktemp("dicom-src")
    a, b, c = generate_uid(), generate_uid(), generate_uid()
    files = [
        _dicom(d / "a1.dcm", PATIENTS[0], a, "XA", "20240315", 1, frames=2),
        _dicom(d / "a2.dcm", PATIENTS[0], a, "XA", "20240315", 2, window=True),
        _dicom(d / "b1.dcm", PATIENTS[1], b, "XA", "20240620", 3),
        _dicom(d / "b2.dcm", PATIENTS[1], b, "XA", "20240620", 4),
        _dicom(d / "c1.dcm", PATIENTS[2], c, "CT", "20230101", 5),
    ]
    labels = {a: "stenosis", b: "normal", c: "normal"}
    real = ROOT / "target" / "dicom-test-files" / "MR_small.dcm"
    if real.exists():
        r = pydicom.dcmread(real)
        shutil.copy(real, d / "mr.dcm")
        files.append({"study": r.StudyInstanceUID, "sop": r.SOPInstanceUID, "path": d / "mr.dcm",
                      "PatientName": str(r.PatientName), "PatientID": str(r.PatientID),
                      "PatientBirthDate": str(r.get("PatientBirthDate", ""))})
        labels[r.StudyInstanceUID] = "stenosis"
    elif os.environ.get("MORE_REQUIRE_PACS"):
        pytest.fail("target/dicom-test-files/MR_small.dcm is missing: .ci/fetch-dicom-test-files.sh")
    return files, labels


# ------------------------------------------------------------------ Orthanc


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """Orthanc with DICOMweb on a free port; loopback clients only (Orthanc 1.10 has no bind
    address: RemoteAccessAllowed false refuses every other client), no DICOM listener."""
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists()
                                         else None)
    if binary is None or not PLUGIN.exists():
        _required("Debian's orthanc and orthanc-dicomweb")
    work = tmp_path_factory.mktemp("orthanc")
    port = _free_port()
    config = {
        "Name": "more-pacs-test", "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"), "HttpPort": port, "DicomServerEnabled": False,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "SaveJobs": False, "ConcurrentJobs": 1,
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    log = open(work / "orthanc.log", "wb")
    proc = subprocess.Popen([binary, str(work / "orthanc.json")], stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(proc, f"{url}/dicom-web/studies", work / "orthanc.log", "Orthanc")
        yield f"{url}/dicom-web"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _stow(base: str, paths) -> None:
    """STOW-RS: every file in one multipart/related request."""
    boundary = uuid.uuid4().hex
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
                    + Path(p).read_bytes() + b"\r\n" for p in paths)
    body += b"--" + boundary.encode() + b"--\r\n"
    req = urllib.request.Request(
        f"{base}/studies", data=body, method="POST",
        headers={"Content-Type": f'multipart/related; type="application/dicom"; '
                                 f"boundary={boundary}", "Accept": "application/dicom+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    failed = answer.get("00081198", {}).get("Value", [])
    assert r.status == 200 and not failed, answer


@pytest.fixture(scope="module")
def pacs(orthanc, dicom_files):
    files, _ = dicom_files
    _stow(orthanc, [f["path"] for f in files])
    return orthanc


# ------------------------------------------------------------------ recording proxy


class _Recorder(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str):
        self.target = target.removeprefix("http://")
        self.requests = []
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    break
                body += chunk
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        self.server.requests.append(
            {"line": f"{self.command} {self.path}", "headers": str(self.headers), "body": body})
        up = http.client.HTTPConnection(self.server.target, timeout=120)
        skip = ("host", "connection", "transfer-encoding", "content-length")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        up.request(self.command, self.path, body=body or None, headers=headers)
        answer = up.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        up.close()

    do_GET = do_POST = do_PUT = do_DELETE = _any


@pytest.fixture(scope="module")
def proxy(node_url):
    server = _Recorder(node_url)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory):
    path = tmp_path_factory.mktemp("pacs-key") / "pacs.morekey"
    key = SecretKey.generate()
    key.save(str(path), PASSPHRASE)
    return path, key


def _cli(cli_bin, *args) -> str:
    env = {**os.environ, "MORE_PASSPHRASE": PASSPHRASE}
    done = subprocess.run([str(cli_bin), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, f"more-client {args}: {done.returncode}\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _bundle_tensors(body: bytes) -> dict:
    """The named tensor messages of a wire-format bundle (shared/WIRE_FORMAT.md, "Bundle
    message"; little-endian): a shard upload's `features` and `targets`."""
    assert body[:8] == b"MOREBNDL", "not a bundle"
    (meta_len,) = struct.unpack_from("<Q", body, 24)
    at = 32 + meta_len
    (count,) = struct.unpack_from("<I", body, at)
    at += 4
    tensors = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<I", body, at)
        name = body[at + 4:at + 4 + name_len].decode()
        at += 4 + name_len
        (length,) = struct.unpack_from("<Q", body, at)
        tensors[name] = body[at + 8:at + 8 + length]
        at += 8 + length
    return tensors


def _uploaded(proxy, dataset_id: str, key: SecretKey):
    """The decrypted features and targets the node received for a dataset: its shard uploads
    (`POST /v1/datasets/{id}/shards?index=K`, issue #32) in index order, each sent once."""
    prefix = f"POST /v1/datasets/{dataset_id}/shards?index="
    shards = sorted((int(r["line"][len(prefix):].split()[0]), r["body"])
                    for r in proxy.requests if r["line"].startswith(prefix))
    indices = [k for k, _ in shards]
    assert indices == list(range(len(shards))) and shards, f"shards of {dataset_id}: {indices}"
    out = {}
    for part in ("features", "targets"):
        out[part] = np.concatenate([
            np.asarray(key.decrypt(Ciphertext.from_bytes(_bundle_tensors(body)[part])))
            for _, body in shards])
    return out


def _folder(tmp: Path, files, labels, name="labels.csv") -> Path:
    """The same files as a folder (their own names), listed in the DICOMweb order (study UID,
    then SOP Instance UID), with a labels CSV of the same file name as the DICOMweb one."""
    tmp.mkdir()
    rows = sorted(files, key=lambda f: (f["study"], f["sop"]))
    for f in rows:
        shutil.copy(f["path"], tmp / f["path"].name)
    (tmp / name).write_text("filename,label\n" + "".join(
        f"{f['path'].name},{labels[f['study']]}\n" for f in rows))
    return tmp / name


def _study_labels(tmp: Path, labels, name="labels.csv") -> Path:
    tmp.mkdir()
    (tmp / name).write_text("study,label\n" + "".join(f"{s},{l}\n" for s, l in labels.items()))
    return tmp / name


def _assert_same(a, b) -> None:
    for part in ("features", "targets"):
        assert a[part].shape == b[part].shape, (part, a[part].shape, b[part].shape)
        diff = float(np.max(np.abs(a[part] - b[part])))
        assert diff <= 1e-6, f"{part} differ by {diff}"


def _leaks(requests, files) -> list:
    """Every patient attribute value or DICOM UID of `files` found in a recorded request."""
    needles = set()
    for f in files:
        name = f["PatientName"]
        needles |= {name, f["PatientID"], f["PatientBirthDate"], f["study"], f["sop"]}
        needles |= {p for p in name.replace("^", " ").split() if len(p) >= 3}
    needles.discard("")
    found = []
    for r in requests:
        blob = r["line"].encode() + r["headers"].encode() + r["body"]
        found += [(r["line"], n) for n in needles if n.encode() in blob]
    return found


# ------------------------------------------------------------------ tests


def test_cli_dicomweb_upload_equals_folder_and_sends_no_patient_attribute(
        pacs, dicom_files, proxy, keyfile, cli_bin, node_token, tmp_path):
    files, labels = dicom_files
    path, key = keyfile
    proxy.requests.clear()
    labels_csv = _study_labels(tmp_path / "pacs", labels)
    studies = [a for s in labels for a in ("--study", s)]
    via_pacs = _cli(cli_bin, "upload", "--key", path, "--node", proxy_url(proxy),
                    "--dicomweb", pacs, *studies, "--labels", labels_csv)
    folder = _folder(tmp_path / "folder", files, labels)
    via_folder = _cli(cli_bin, "upload", "--key", path, "--node", proxy_url(proxy),
                      "--images", folder.parent, "--labels", folder)
    a, b = _uploaded(proxy, via_pacs, key), _uploaded(proxy, via_folder, key)
    _assert_same(a, b)
    assert a["features"].shape[1:] == (1, 28, 28) and a["features"].shape[0] >= 4
    assert _leaks(proxy.requests, files) == []
    # The search can fail: a data set named after a patient is found.
    _cli(cli_bin, "upload", "--key", path, "--node", proxy_url(proxy), "--dicomweb", pacs,
         *studies, "--labels", labels_csv, "--name", files[0]["PatientName"])
    assert files[0]["PatientName"] in {n for _, n in _leaks(proxy.requests, files)}


def test_query_upload_equals_folder(pacs, dicom_files, proxy, keyfile, cli_bin,
                                           node_token, tmp_path):
    files, labels = dicom_files
    path, key = keyfile
    proxy.requests.clear()
    found = dicomweb.studies(pacs, modality="XA", study_date="20240101-20241231")
    xa = [f for f in files if f["path"].name[0] in "ab"]
    assert [s.study_instance_uid for s in found] == sorted({f["study"] for f in xa})
    assert all(s.modalities == ["XA"] for s in found)
    labels_csv = _study_labels(tmp_path / "pacs", labels)
    node = more_client.Node(proxy_url(proxy), node_token)
    via_pacs = dicomweb.upload(node, key, pacs, labels_csv, modality="XA",
                               study_date="20240101-20241231")
    folder = _folder(tmp_path / "folder", xa, labels)
    via_folder = _cli(cli_bin, "upload", "--key", path, "--node", proxy_url(proxy),
                      "--images", folder.parent, "--labels", folder)
    via_cli = _cli(cli_bin, "upload", "--key", path, "--node", proxy_url(proxy), "--dicomweb",
                   pacs, "--modality", "XA", "--study-date", "20240101-20241231", "--labels",
                   labels_csv)
    folder_data = _uploaded(proxy, via_folder, key)
    _assert_same(_uploaded(proxy, via_pacs, key), folder_data)
    _assert_same(_uploaded(proxy, via_cli, key), folder_data)
    assert _leaks(proxy.requests, files) == []


def test_unknown_study_and_unreachable_pacs_are_errors(pacs, keyfile, cli_bin, tmp_path):
    path, _ = keyfile
    labels_csv = _study_labels(tmp_path / "l", {"1.2.3.4": "x", "1.2.3.5": "y"})
    env = {**os.environ, "MORE_PASSPHRASE": PASSPHRASE}
    for url in (pacs, f"http://127.0.0.1:{_free_port()}/dicom-web"):
        done = subprocess.run([str(cli_bin), "upload", "--key", str(path), "--dicomweb", url,
                               "--study", "1.2.3.4", "--labels", str(labels_csv)],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 9, done.stderr
        assert "PACS" in done.stderr
    with pytest.raises(dicomweb.PacsError):
        dicomweb.studies(f"http://127.0.0.1:{_free_port()}/dicom-web")


def proxy_url(proxy) -> str:
    return f"http://127.0.0.1:{proxy.server_address[1]}"


def _validate(bundle: dict) -> None:
    Bundle.model_validate(bundle)


def test_fhir_bundles_validate(pacs, dicom_files, keyfile, node_url, node_token, cli_bin,
                               tmp_path):
    files, labels = dicom_files
    path, key = keyfile
    labels_csv = _study_labels(tmp_path / "pacs", labels)
    test_csv = tmp_path / "test.csv"
    dataset = _cli(cli_bin, "upload", "--key", path, "--node", node_url, "--dicomweb", pacs,
                   *[a for s in labels for a in ("--study", s)], "--labels", labels_csv,
                   "--test-out", test_csv)
    node = more_client.Node(node_url, node_token)
    model = node.create_model(dataset, preset="mnist_mlp")
    node.train(model, dataset, epochs=1, batch_size=4).wait()
    out = tmp_path / "bundle.json"
    _cli(cli_bin, "predict", "--key", path, "--node", node_url, "--model", model, "--input",
         test_csv, "--out", tmp_path / "pred.csv", "--fhir", out, "--fhir-subject", "Patient/{row}")
    bundle = json.loads(out.read_text())
    _validate(bundle)
    logits = np.loadtxt(tmp_path / "pred.csv", delimiter=",", skiprows=1, ndmin=2)[:, :2]
    risks = [e["resource"] for e in bundle["entry"]]
    assert [r["resourceType"] for r in risks] == ["RiskAssessment"] * len(logits)
    # fhir.resources checks structure, types and cardinality, not value sets: the status here.
    assert {r["status"] for r in risks} == {"final"}
    for r, z in zip(risks, logits):
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        got = [q["probabilityDecimal"] for q in r["prediction"]]
        assert np.allclose(got, p, atol=1e-6)
        assert [q["outcome"]["text"] for q in r["prediction"]] == ["normal", "stenosis"]
    # Python: the same RiskAssessments, and Observations with a unit.
    same = fhir.bundle(logits.astype(np.float32), "classification", model,
                       names=["normal", "stenosis"], subject="Patient/{row}")
    _validate(same)
    obs = fhir.bundle(logits[:, :1].astype(np.float32), "regression", model, unit="mg/dL")
    _validate(obs)
    assert obs["entry"][0]["resource"]["valueQuantity"]["code"] == "mg/dL"
    # The validator refuses a broken resource (no status).
    del obs["entry"][0]["resource"]["status"]
    with pytest.raises(Exception, match="status"):
        _validate(obs)
