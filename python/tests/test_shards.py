"""Upload in shards with resume (issue #32) against a real node: a callback that raises stops the
upload after two confirmed shards; the upload resumed with the dataset id skips exactly those two
(never sent again) and sends the rest; a resume with another shard size is refused."""

import numpy as np
import pytest

import more_client as m


class Stop(Exception):
    pass


def rows(n=200, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    return x, np.eye(2, dtype=np.float32)[labels]


def test_upload_in_shards_stops_and_resumes(node_url, node_token):
    node = m.Node(node_url, token=node_token)
    key = m.SecretKey.generate()
    x, y = rows()
    shard = (6 + 2) * 8 * 40  # 40 rows per shard: 5 shards
    ids, seen = [], []

    def stop_after_two(index, shards, skipped, sent):
        seen.append((index, shards, skipped, sent))
        if index == 1:
            raise Stop()

    with pytest.raises(Stop):
        node.upload(key, x, y, shard_bytes=shard, on_dataset=ids.append, progress=stop_after_two)
    assert [s[:3] for s in seen] == [(0, 5, False), (1, 5, False)]
    assert len(node.dataset(ids[0])["shards"]) == 2

    seen.clear()
    got = node.upload(key, x, y, shard_bytes=shard, resume=ids[0],
                      progress=lambda *a: seen.append(a))
    assert got == ids[0]
    assert [(i, skipped) for i, _, skipped, _ in seen] == [
        (0, True), (1, True), (2, False), (3, False), (4, False)]
    assert seen[-1][3] > 0 and seen[0][3] == 0
    ds = node.dataset(ids[0])
    assert [s["samples"] for s in ds["shards"]] == [40] * 5
    assert ds["samples"] == 200 and ds["state"] == "ready"

    with pytest.raises(m.DataError, match="do not match"):
        node.upload(key, x, y, shard_bytes=2 * shard, resume=ids[0])
