"""GitSource: history, refs, incremental walks, --since, --staged, --all-objects, work tree,
broken objects; GitBlobLoader. Repositories are built in code (tests/helpers_git.py)."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess

import pygit2
import pytest

from nhiguard.model import FileProvenance, GitProvenance, ScanError
from nhiguard.sources.base import LoadError, Skipped, SourceItem
from nhiguard.sources.git import (
    GitBlobLoader,
    GitSource,
    is_git_repository,
    repository_key,
)
from tests.helpers_git import BASE_TIME, GitRepo, blob_hex

KEY = "AKIAIOSFODNN7EXAMPLE"


def scan(target, **kw) -> tuple[list[SourceItem], list[ScanError], GitSource]:
    src = GitSource(str(target), **kw)
    out = list(src.items())
    items = [o for o in out if isinstance(o, SourceItem)]
    errors = [o for o in out if isinstance(o, ScanError)]
    return items, errors, src


def git_items(items):
    return [i for i in items if isinstance(i.provenance, GitProvenance)]


def by_blob(items, content) -> list[SourceItem]:
    return [i for i in items if i.blob_id == blob_hex(content)]


def where(items, content) -> set[tuple[str | None, str | None]]:
    return {(i.provenance.path, i.provenance.commit) for i in by_blob(items, content)}


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    return GitRepo.init(tmp_path / "repo")


# --- history ---------------------------------------------------------------------------


def test_deleted_secret_is_found_with_the_commit_that_introduced_it(repo):
    secret = f"aws_key = '{KEY}'\n"
    c1 = repo.commit({"app/config.py": secret, "README": "hi"}, message="add config\n\nlong body")
    c2 = repo.commit(
        {"app/config.py": None}, message="remove key", author=("Bob", "bob@example.com")
    )
    items, errors, src = scan(repo.git_dir)
    assert errors == []
    [item] = by_blob(items, secret)
    assert item.provenance == GitProvenance(
        repo=str(repo.git_dir),
        path="app/config.py",
        commit=c1,
        author="Alice",
        author_email="alice@example.com",
        date="2023-11-14T22:14:20Z",  # BASE_TIME + 60 s, UTC
        summary="add config",
    )
    assert item.size == len(secret)
    assert isinstance(item.loader, GitBlobLoader)
    assert item.loader.load() == secret.encode()
    assert sorted(src.walked_commits) == sorted([c1, c2])
    assert src.repo_key == os.path.realpath(repo.git_dir)


def test_a_blob_yields_one_item_per_path_and_commit_that_introduced_it(repo):
    c1 = repo.commit({"a.env": KEY, "deep/dir/a.env": KEY, "other": "x"})
    c2 = repo.commit({"copy.env": KEY, "other": "y"})
    items, _, _ = scan(repo.git_dir)
    assert where(items, KEY) == {("a.env", c1), ("deep/dir/a.env", c1), ("copy.env", c2)}
    assert len(by_blob(items, KEY)) == 3
    # unchanged blobs are not re-yielded by later commits
    assert where(items, "x") == {("other", c1)}


def test_mode_change_deletion_and_submodule_are_not_introductions(repo):
    c1 = repo.commit({"run.sh": "echo hi"})
    tree = repo.repo[c1].tree
    tb = repo.repo.TreeBuilder(tree)
    tb.insert("run.sh", tree["run.sh"].id, pygit2.enums.FileMode.BLOB_EXECUTABLE)
    tb.insert("vendor", pygit2.Oid(hex="1" * 40), pygit2.enums.FileMode.COMMIT)  # gitlink
    sig = repo.signature()
    c2 = str(repo.repo.create_commit(None, sig, sig, "chmod", tb.write(), [pygit2.Oid(hex=c1)]))
    repo.set_ref("refs/heads/main", c2)
    items, errors, _ = scan(repo.git_dir)
    assert errors == []
    assert [(i.provenance.path, i.provenance.commit) for i in items] == [("run.sh", c1)]


def test_every_kind_of_ref_is_walked(repo):
    base = repo.commit({"base": "base"})
    feature = repo.commit({"f": "on a branch"}, ref="refs/heads/feature")
    remote = repo.commit({"r": "on a remote"}, ref="refs/remotes/origin/topic", parents=[base])
    light = repo.commit({"t": "lightweight tag"}, ref=None, parents=[base])
    repo.tag("v-light", light)
    annotated = repo.commit({"t": "annotated tag"}, ref=None, parents=[base])
    repo.tag("v-annotated", annotated, annotated=True)
    detached = repo.commit({"d": "detached head"}, ref=None, parents=[base])
    repo.repo.set_head(pygit2.Oid(hex=detached))
    tree_blob = repo.repo.create_blob(b"tagged tree")
    tb = repo.repo.TreeBuilder()
    tb.insert("inside", tree_blob, pygit2.enums.FileMode.BLOB)
    repo.set_ref("refs/tags/a-tree", str(tb.write()))
    items, errors, src = scan(repo.git_dir)
    assert errors == []
    assert where(items, "on a branch") == {("f", feature)}
    assert where(items, "on a remote") == {("r", remote)}
    assert where(items, "lightweight tag") == {("t", light)}
    assert where(items, "annotated tag") == {("t", annotated)}
    assert where(items, "detached head") == {("d", detached)}
    [tagged] = by_blob(items, "tagged tree")
    assert tagged.provenance == GitProvenance(
        repo=str(repo.git_dir), path="inside", commit=None, ref="refs/tags/a-tree"
    )
    assert len(src.walked_commits) == len(set(src.walked_commits)) == 6


def test_stash_and_its_reflog_are_walked(repo):
    repo.commit({"tracked.txt": "v1", "keep": "k"})
    repo.checkout()
    repo.write("tracked.txt", "stashed one")
    repo.stash()
    repo.write("tracked.txt", "staged two")
    repo.stage("tracked.txt")
    repo.write("tracked.txt", "worktree two")
    repo.write("untracked.txt", "untracked two")
    repo.stash(include_untracked=True)  # pushes the first stash down to stash@{1} (reflog only)
    items, errors, _ = scan(repo.workdir, include_worktree=False)
    assert errors == []
    found = {i.blob_id for i in items}
    for content in ("stashed one", "staged two", "worktree two", "untracked two"):
        assert blob_hex(content) in found, content
    assert {i.provenance.path for i in by_blob(items, "untracked two")} == {"untracked.txt"}


def test_merge_reports_only_what_it_introduced_itself(repo):
    base = repo.commit({"a": "base"})
    side = repo.commit({"side.txt": "from side"}, ref="refs/heads/side")
    main = repo.commit({"main.txt": "from main"})
    merge = repo.commit(
        {"side.txt": "from side", "resolved.txt": "evil merge"}, parents=[main, side]
    )
    items, _, _ = scan(repo.git_dir)
    assert where(items, "from side") == {("side.txt", side)}
    assert where(items, "evil merge") == {("resolved.txt", merge)}
    assert where(items, "base") == {("a", base)}


# --- incremental walks and --since -----------------------------------------------------


def test_seen_commits_make_rescans_walk_only_new_commits(repo):
    repo.commit({"a": "one"})
    repo.commit({"b": "two"}, ref="refs/heads/feature")
    _, _, first = scan(repo.git_dir)
    seen = frozenset(first.walked_commits)
    items, errors, second = scan(repo.git_dir, seen_commits=seen)
    assert (items, errors, second.walked_commits) == ([], [], [])
    c3 = repo.commit({"c": "three", "a": "one changed"})
    items, errors, third = scan(repo.git_dir, seen_commits=seen)
    assert errors == []
    assert third.walked_commits == [c3]
    assert {(i.provenance.path, i.provenance.commit) for i in items} == {("c", c3), ("a", c3)}


def test_seen_commits_hide_their_ancestors_and_ignore_unknown_ids(repo):
    repo.commit({"a": "one"})
    c2 = repo.commit({"b": "two"})
    c3 = repo.commit({"c": "three"})
    seen = frozenset({c2, "0" * 40, "not hex"})
    items, errors, src = scan(repo.git_dir, seen_commits=seen)
    assert errors == []
    assert src.walked_commits == [c3]
    assert [i.provenance.path for i in items] == ["c"]


def test_since_walks_ref_to_head_only(repo):
    # REF..HEAD, like a pull request: what HEAD has and REF has not; other branches, tags
    # and the stash are not part of it
    repo.commit({"old": "old secret"})
    c2 = repo.commit({"mid": "mid"})
    repo.tag("v1", c2, annotated=True)
    c3 = repo.commit({"new": "new"})
    c4 = repo.commit({"branch": "branch"}, ref="refs/heads/topic", parents=[c2])
    repo.commit({"tagged": "only a tag has it"}, ref="refs/tags/later", parents=[c3])
    items, errors, src = scan(repo.git_dir, since="v1")
    assert errors == []
    assert src.walked_commits == [c3]
    assert {i.provenance.path for i in items} == {"new"}
    _, _, src = scan(repo.git_dir, since="main~1")
    assert src.walked_commits == [c3]
    # HEAD on the topic branch (a pull request's checkout): its commits, not main's
    repo.repo.set_head("refs/heads/topic")
    items, errors, src = scan(repo.git_dir, since="v1")
    assert errors == [] and src.walked_commits == [c4]
    assert {i.provenance.path for i in items} == {"branch"}
    # detached HEAD (CI checkouts of a merge commit)
    repo.repo.set_head(pygit2.Oid(hex=c3))
    _, _, src = scan(repo.git_dir, since="v1")
    assert src.walked_commits == [c3]


def test_since_with_head_on_an_unborn_branch_says_so(repo):
    c1 = repo.commit({"a": "one"})
    repo.commit({"b": "two"})
    repo.repo.set_head("refs/heads/not-yet")
    items, errors, src = scan(repo.git_dir, since=c1)
    assert items == [] and src.walked_commits == []
    assert len(errors) == 1 and "HEAD" in errors[0].message and "--since" in errors[0].message


@pytest.mark.parametrize("ref", ["no-such-branch", "0" * 40, "main~99"])
def test_bad_since_is_a_clear_value_error(repo, ref):
    repo.commit({"a": "one"})
    with pytest.raises(ValueError, match="--since"):
        GitSource(str(repo.git_dir), since=ref)


# --- --staged and the work tree ----------------------------------------------------------


def test_staged_yields_index_blobs_that_differ_from_head(repo):
    repo.commit({"same.txt": "same", "changed.txt": "v1"})
    repo.checkout()
    repo.write("changed.txt", f"staged {KEY}")
    repo.write("new.txt", "staged new")
    repo.write("unstaged.txt", "not staged")
    repo.stage("changed.txt", "new.txt")
    repo.write("changed.txt", "edited after staging")
    items, errors, src = scan(repo.workdir, staged=True)
    assert errors == []
    assert src.walked_commits == []
    assert {(i.provenance.path, i.blob_id) for i in items} == {
        ("changed.txt", blob_hex(f"staged {KEY}")),
        ("new.txt", blob_hex("staged new")),
    }
    for item in items:
        assert item.provenance.staged and item.provenance.commit is None
        assert isinstance(item.loader, GitBlobLoader)
    assert by_blob(items, "staged new")[0].loader.load() == b"staged new"


def test_staged_before_the_first_commit_yields_every_entry(repo):
    repo.write("a.txt", "first")
    repo.write("b/c.txt", "second")
    repo.stage("a.txt", "b/c.txt")
    items, errors, _ = scan(repo.workdir, staged=True)
    assert errors == []
    assert {i.provenance.path for i in items} == {"a.txt", "b/c.txt"}


def test_staged_on_a_bare_repository_is_refused(tmp_path):
    bare = GitRepo.init(tmp_path / "bare.git", bare=True)
    with pytest.raises(ValueError, match="bare"):
        GitSource(str(bare.git_dir), staged=True)


def test_worktree_yields_modified_and_untracked_files_but_not_ignored(repo):
    repo.commit({".gitignore": "*.log\nbuild/\n", "tracked.py": "v1", "clean.py": "clean"})
    repo.checkout()
    repo.write("tracked.py", "modified")
    repo.write("notes/new.txt", "untracked")
    repo.write("debug.log", "ignored")
    repo.write("build/out.txt", "ignored dir")
    repo.write("both.txt", "staged version")
    repo.stage("both.txt")
    repo.write("both.txt", "work tree version")
    items, errors, _ = scan(repo.workdir)
    assert errors == []
    files = {i.provenance.path: i for i in items if isinstance(i.provenance, FileProvenance)}
    assert set(files) == {"tracked.py", "notes/new.txt", "both.txt"}
    assert files["notes/new.txt"].loader.load() == b"untracked"
    assert files["tracked.py"].size == len("modified")
    # the staged version differs from both HEAD and the file: it is what the next commit holds
    [staged] = [i for i in git_items(items) if i.provenance.staged]
    assert (staged.provenance.path, staged.blob_id) == ("both.txt", blob_hex("staged version"))
    items, _, _ = scan(repo.workdir, include_worktree=False)
    assert all(isinstance(i.provenance, GitProvenance) and not i.provenance.staged for i in items)


def test_worktree_symlink_inside_is_followed_and_nested_repositories_skipped(repo):
    repo.commit({"a": "a"})
    repo.checkout()
    repo.write("real.txt", "target")
    os.symlink("real.txt", repo.workdir / "link.txt")
    GitRepo.init(repo.workdir / "nested").commit({"n": "nested"})
    items, errors, _ = scan(repo.workdir)
    assert errors == []
    files = {
        i.provenance.path: i.loader.load()
        for i in items
        if isinstance(i.provenance, FileProvenance)
    }
    assert files == {"real.txt": b"target", "link.txt": b"target"}


def test_worktree_symlink_outside_is_skipped(repo, tmp_path):
    repo.commit({"a": "a"})
    repo.checkout()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside")
    os.symlink(outside, repo.workdir / "link")
    items, errors, _ = scan(repo.workdir)
    assert not [i for i in items if isinstance(i.provenance, FileProvenance)]
    assert [(e.path, e.kind) for e in errors] == [("link", "skipped")]


# --- --all-objects ---------------------------------------------------------------------


def test_all_objects_finds_deleted_branches_amended_commits_and_loose_blobs(repo):
    base = repo.commit({"app.py": "app"})
    gone = repo.commit({"secret.env": "deleted branch secret"}, ref="refs/heads/tmp")
    repo.delete_ref("refs/heads/tmp")
    amended = repo.commit({"config.py": "amended away"})
    fixed = repo.commit({"config.py": "clean"}, parents=[base])  # the amend: same parent
    dangling = str(repo.repo.create_blob(b"never committed"))

    items, errors, _ = scan(repo.git_dir)
    assert errors == []
    assert not by_blob(items, "deleted branch secret") and not by_blob(items, "amended away")

    items, errors, src = scan(repo.git_dir, all_objects=True)
    assert errors == []
    [g] = by_blob(items, "deleted branch secret")
    assert (g.provenance.commit, g.provenance.path, g.provenance.reachable) == (
        gone,
        "secret.env",
        False,
    )
    assert g.provenance.author == "Alice" and g.provenance.date is not None
    [a] = by_blob(items, "amended away")
    assert (a.provenance.commit, a.provenance.path, a.provenance.reachable) == (
        amended,
        "config.py",
        False,
    )
    [d] = by_blob(items, "never committed")
    assert d.provenance == GitProvenance(
        repo=str(repo.git_dir), path=None, commit=None, reachable=False
    )
    assert d.blob_id == dangling and d.loader.load() == b"never committed"
    # reachable blobs keep their reachable provenance only
    assert where(items, "app") == {("app.py", base)}
    assert where(items, "clean") == {("config.py", fixed)}
    assert sorted(src.walked_commits) == sorted([base, fixed])


def test_all_objects_rescan_does_not_call_hidden_history_unreachable(repo):
    repo.commit({"a": "one"})
    repo.commit({"b": "two"})
    repo.repo.create_blob(b"loose")
    _, _, first = scan(repo.git_dir)
    items, errors, src = scan(
        repo.git_dir, all_objects=True, seen_commits=frozenset(first.walked_commits)
    )
    assert errors == []
    assert src.walked_commits == []
    assert [(i.blob_id, i.provenance.reachable) for i in items] == [(blob_hex("loose"), False)]


def test_all_objects_with_since_or_seen_keeps_hidden_history_reachable(repo):
    c1 = repo.commit({"old.txt": "before since"})
    repo.tag("v1", c1)
    tb = repo.repo.TreeBuilder()
    tb.insert("t", repo.repo.create_blob(b"in a tagged tree"), pygit2.enums.FileMode.BLOB)
    repo.set_ref("refs/tags/tree", str(tb.write()))
    c2 = repo.commit({"new.txt": "after since"})
    gone = repo.commit({"x": "unreachable"}, ref=None, parents=[c2])
    for kw in ({"since": "v1"}, {"seen_commits": frozenset({c1, c2})}):
        items, errors, _ = scan(repo.git_dir, all_objects=True, **kw)
        assert errors == []
        unreachable = {
            (i.provenance.path, i.provenance.commit) for i in items if not i.provenance.reachable
        }
        assert unreachable == {("x", gone)}, kw


def test_all_objects_reads_packed_objects(repo):
    repo.commit({"a": "packed reachable"})
    gone = repo.commit({"b": "packed unreachable"}, ref="refs/heads/tmp")
    repo.repo.create_blob(b"packed loose blob")
    repo.repo.pack()  # writes a pack next to the loose objects; remove the loose copies
    for d in (repo.git_dir / "objects").iterdir():
        if len(d.name) == 2:
            for f in d.iterdir():
                os.chmod(f, 0o644)
                f.unlink()
    repo.delete_ref("refs/heads/tmp")
    items, errors, _ = scan(repo.git_dir, all_objects=True)
    assert errors == []
    assert where(items, "packed unreachable") == {("b", gone)}
    assert by_blob(items, "packed loose blob")[0].loader.load() == b"packed loose blob"
    assert by_blob(items, "packed reachable")[0].provenance.reachable


# --- targets ---------------------------------------------------------------------------


def test_work_tree_git_folder_and_bare_targets(tmp_path):
    work = GitRepo.init(tmp_path / "work")
    c = work.commit({"k.env": KEY})
    bare = GitRepo.init(tmp_path / "bare.git", bare=True)
    cb = bare.commit({"k.env": KEY})
    for target, commit, key_dir in (
        (work.workdir, c, work.git_dir),
        (work.git_dir, c, work.git_dir),
        (bare.git_dir, cb, bare.git_dir),
    ):
        assert is_git_repository(str(target))
        items, errors, src = scan(target)
        assert errors == []
        assert src.repo_key == os.path.realpath(key_dir) == repository_key(str(target))
        assert where(items, KEY) == {("k.env", commit)}
        assert items[0].provenance.repo == str(target)
        assert items[0].loader.load() == KEY.encode()


def test_is_git_repository_is_false_elsewhere(tmp_path):
    work = GitRepo.init(tmp_path / "work")
    work.commit({"sub/x": "x"})
    work.checkout()
    (tmp_path / "plain").mkdir()
    (tmp_path / "file").write_text("x")
    for path in (work.workdir / "sub", tmp_path / "plain", tmp_path / "file", tmp_path / "missing"):
        assert not is_git_repository(str(path))
    with pytest.raises(ValueError, match="not a git repository"):
        GitSource(str(tmp_path / "plain"))


# --- broken repositories ---------------------------------------------------------------


def test_corrupt_blob_is_reported_by_its_loader_and_others_load(repo):
    repo.commit({"good.txt": "good", "bad.txt": "bad"})
    repo.corrupt(blob_hex("bad"))
    items, errors, _ = scan(repo.git_dir)
    assert errors == []
    assert by_blob(items, "good")[0].loader.load() == b"good"
    with pytest.raises(LoadError):
        by_blob(items, "bad")[0].loader.load()


def test_corrupt_tree_reports_the_commit_and_keeps_the_rest(repo):
    repo.commit({"first.txt": "first"})
    c2 = repo.commit({"dir/second.txt": "second", "top.txt": "top"})
    c3 = repo.commit({"third.txt": "third"})  # keeps dir/ unchanged: never needs to read it
    repo.corrupt(str(repo.repo[c2].tree["dir"].id))
    items, errors, _ = scan(repo.git_dir, include_worktree=False)
    assert [(e.path, e.message.split(":")[0]) for e in errors] == [
        (f"{repo.git_dir}@{c2}", "cannot read tree dir/")
    ]
    assert where(items, "top") == {("top.txt", c2)}  # the rest of c2 still comes out
    assert by_blob(items, "first")
    assert where(items, "third") == {("third.txt", c3)}


@pytest.mark.parametrize("damage", ["corrupt", "remove_object"])
def test_broken_commit_in_history_is_reported_and_the_walk_goes_on(repo, damage):
    c1 = repo.commit({"one": "one"})
    c2 = repo.commit({"two": "two"})
    c3 = repo.commit({"three": "three"})
    side = repo.commit({"side": "side"}, ref="refs/heads/side", parents=[c1])
    getattr(repo, damage)(c2)
    items, errors, src = scan(repo.git_dir)
    assert [e.path for e in errors if "cannot read commit" in e.message] == [f"{repo.git_dir}@{c2}"]
    assert by_blob(items, "three") and by_blob(items, "side") and by_blob(items, "one")
    assert set(src.walked_commits) == {c1, c3, side}
    assert len(src.walked_commits) == 3


def test_ref_to_a_missing_object_is_reported(repo):
    repo.commit({"a": "a"})
    (repo.git_dir / "refs" / "heads" / "broken").write_text("1" * 40 + "\n")
    items, errors, _ = scan(repo.git_dir)
    assert [e.path for e in errors] == [f"{repo.git_dir}@refs/heads/broken"]
    assert by_blob(items, "a")


def test_all_objects_reports_a_corrupt_object_and_keeps_the_rest(repo):
    repo.commit({"a": "a"})
    bad = str(repo.repo.create_blob(b"dangling but broken"))
    repo.repo.create_blob(b"dangling and fine")
    repo.corrupt(bad)
    items, errors, _ = scan(repo.git_dir, all_objects=True)
    assert [e.path for e in errors] == [f"{repo.git_dir}@{bad}"]
    assert by_blob(items, "dangling and fine") and by_blob(items, "a")


# --- GitBlobLoader ---------------------------------------------------------------------


def test_blob_loader_limits_size_reports_missing_and_pickles(repo):
    repo.commit({"big": "x" * 100})
    key = repository_key(str(repo.git_dir))
    loader = GitBlobLoader(key, blob_hex("x" * 100), max_size=10)
    assert pickle.loads(pickle.dumps(loader)) == loader
    with pytest.raises(Skipped, match="max-file-size"):
        loader.load()
    assert GitBlobLoader(key, blob_hex("x" * 100), 1000).load() == b"x" * 100
    with pytest.raises(LoadError, match="missing"):
        GitBlobLoader(key, "2" * 40, 1000).load()
    with pytest.raises(LoadError):
        GitBlobLoader(str(repo.git_dir / "nope"), blob_hex("x"), 1000).load()


def test_dates_are_utc(repo):
    sig = pygit2.Signature("Zoe", "z@example.com", BASE_TIME, 120)  # +02:00
    oid = repo.repo.create_commit("refs/heads/main", sig, sig, "tz", repo._tree({"f": b"f"}), [])
    items, _, _ = scan(repo.git_dir)
    assert items[0].provenance.commit == str(oid)
    assert items[0].provenance.date == "2023-11-14T22:13:20Z"


# --- the tree diff against references ----------------------------------------------------


class _FakeOdb:
    def __init__(self) -> None:
        self.objects: dict[bytes, bytes] = {}

    def add(self, raw: bytes) -> bytes:
        key = bytes.fromhex(blob_hex(raw))  # any unique 20 bytes
        self.objects[key] = raw
        return key

    def read(self, oid: pygit2.Oid):
        return pygit2.enums.ObjectType.TREE, self.objects[oid.raw]


def test_tree_differ_matches_set_difference_on_adversarial_trees():
    """Entry ids full of NUL, digit and space bytes, names with digits and spaces: the
    prefix/suffix shortcut must never misalign an entry boundary."""
    import random

    from nhiguard.sources.git import _TreeDiffer

    rnd = random.Random(7)
    tricky = b"\0 0123456789ab\xff"

    def entry(name: bytes) -> bytes:
        mode = rnd.choice([b"100644", b"100755", b"40000", b"120000", b"160000"])
        return mode + b" " + name + b"\0" + bytes(rnd.choice(tricky) for _ in range(20))

    def name() -> bytes:
        return bytes(rnd.choice(b"ab1 0.") for _ in range(rnd.randint(1, 8)))

    for case in range(400):
        odb = _FakeOdb()
        names = list(dict.fromkeys(name() for _ in range(rnd.choice([3, 30, 150]))))
        old = [entry(n) for n in names]
        new = list(old)
        for _ in range(rnd.randint(0, 4)):
            op = rnd.choice(["modify", "add", "delete", "rename"])
            k = rnd.randrange(len(new)) if new else 0
            if op == "modify" and new:
                n = new[k][new[k].index(b" ") + 1 : -21]
                new[k] = entry(n)
            elif op == "add":
                n = name()
                if all(e[e.index(b" ") + 1 : -21] != n for e in new):
                    new.insert(k, entry(n))
            elif op == "delete" and new:
                del new[k]
            elif op == "rename" and new:
                new[k] = new[k][: new[k].index(b" ") + 1] + name() + new[k][-21:]
        old_id, new_id = odb.add(b"".join(old)), odb.add(b"".join(new))
        differ = _TreeDiffer(odb)  # type: ignore[arg-type]
        if case % 3 == 1:
            differ.tree(new_id)  # the child already parsed: derive the parent
        elif case % 3 == 2:
            differ.tree(old_id)
            differ.tree(new_id)
        fresh, gone = differ._changes(old_id, new_id)
        assert (set(fresh), set(gone)) == (set(new) - set(old), set(old) - set(new)), case
        assert differ.tree(new_id).entries == new and differ.tree(old_id).entries == old


def test_tree_differ_when_the_common_suffix_starts_inside_an_entry():
    """The new version's last name ends with bytes that look like the old version's last
    entry, so the common suffix begins inside an entry of the new version."""
    from nhiguard.sources.git import _TreeDiffer

    common = [b"100644 common%03d\0" % k + bytes([k]) * 20 for k in range(80)]  # > 2 KiB
    last = b"100644 b\0" + b"\x07" * 20
    old = [*common, b"100644 x\0" + b"\x01" * 20, last]
    new = [*common, b"100644 x\0" + b"\x02" * 20, b"100644 zz" + last]
    for warm in (None, "new", "old"):
        odb = _FakeOdb()
        old_id, new_id = odb.add(b"".join(old)), odb.add(b"".join(new))
        differ = _TreeDiffer(odb)  # type: ignore[arg-type]
        if warm:
            differ.tree(new_id if warm == "new" else old_id)
        fresh, gone = differ._changes(old_id, new_id)
        assert sorted(fresh) == sorted(new[-2:]) and sorted(gone) == sorted(old[-2:])
        assert differ.tree(new_id).entries == new


def _libgit2_introductions(repo: pygit2.Repository) -> set[tuple[str, str, str]]:
    """What each commit introduced, by libgit2's own tree diff (the slow reference)."""
    out = set()
    walker = repo.walk(None)
    for ref in repo.references.iterator():
        walker.push(ref.peel(pygit2.Commit).id)
    for c in walker:
        parents = c.parents
        diff = parents[0].tree.diff_to_tree(c.tree) if parents else c.tree.diff_to_tree(swap=True)
        for d in diff.deltas:
            new = d.new_file
            if d.status == pygit2.enums.DeltaStatus.DELETED or new.mode == 0o160000:
                continue
            if d.old_file.id == new.id and d.status == pygit2.enums.DeltaStatus.MODIFIED:
                continue
            if any(new.path in p.tree and p.tree[new.path].id == new.id for p in parents[1:]):
                continue
            out.add((str(c.id), new.path, str(new.id)))
    return out


def test_history_matches_libgit2_diffs_on_a_random_repository(repo):
    import random

    rnd = random.Random(3)
    dirs = ["", "a/", "a/b/", "a/b/c/", "d/", "d/e f/"]
    live: dict[str, str] = {}
    main_tip = None
    for i in range(60):
        changes: dict[str, str | None] = {}
        for _ in range(rnd.randint(1, 4)):
            roll = rnd.random()
            if live and roll < 0.4:
                changes[rnd.choice(list(live))] = f"edit {i} {rnd.random()}"
            elif live and roll < 0.55:
                changes[rnd.choice(list(live))] = None
            else:
                changes[f"{rnd.choice(dirs)}f{rnd.randint(0, 40)}.txt"] = f"new {i}"
        # a path never holds a file and a directory at once
        changes = {p: v for p, v in changes.items() if not any(q.startswith(p + "/") for q in live)}
        if i % 15 == 14 and main_tip:  # a side branch merged back, sometimes with an edit
            side = repo.commit({f"side{i}.txt": f"side {i}"}, ref=None, parents=[main_tip])
            merged = dict(changes)
            merged[f"side{i}.txt"] = f"side {i}"
            main_tip = repo.commit(merged, parents=[main_tip, side])
        else:
            main_tip = repo.commit(changes)
        for p, v in changes.items():
            if v is None:
                live.pop(p, None)
            else:
                live[p] = v
    items, errors, _ = scan(repo.git_dir)
    assert errors == []
    mine = {(i.provenance.commit, i.provenance.path, i.blob_id) for i in items}
    assert mine == _libgit2_introductions(repo.repo)


# --- odd repositories ----------------------------------------------------------------------


def test_empty_repository_yields_only_work_tree_files(repo):
    items, errors, src = scan(repo.git_dir, include_worktree=False)
    assert (items, errors, src.walked_commits) == ([], [], [])
    repo.write("new.txt", "untracked before the first commit")
    items, errors, _ = scan(repo.workdir)
    assert errors == []
    assert [(type(i.provenance), i.provenance.path) for i in items] == [(FileProvenance, "new.txt")]


def test_non_utf8_paths_and_chained_tags(repo):
    c = repo.commit({"ok": "ok"})
    odb = repo.repo.odb
    raw_tree = (  # pygit2 only writes UTF-8 names: write the tree object by hand
        b"100644 caf\xe9.txt\0"
        + odb.write(pygit2.enums.ObjectType.BLOB, b"latin-1 name").raw
        + b"100644 ok\0"
        + repo.repo[c].tree["ok"].id.raw
    )
    tree_id = odb.write(pygit2.enums.ObjectType.TREE, raw_tree)
    sig = repo.signature()
    c2 = str(repo.repo.create_commit(None, sig, sig, "latin", tree_id, [pygit2.Oid(hex=c)]))
    repo.set_ref("refs/heads/main", c2)
    inner = repo.repo.create_tag(
        "inner", pygit2.Oid(hex=c2), pygit2.enums.ObjectType.COMMIT, sig, "inner"
    )
    repo.repo.create_tag("outer", inner, pygit2.enums.ObjectType.TAG, sig, "tag of a tag")
    repo.delete_ref("refs/tags/inner")
    repo.delete_ref("refs/heads/main")  # only the tag chain still reaches c2
    items, errors, _ = scan(repo.git_dir)
    assert errors == []
    [item] = by_blob(items, "latin-1 name")
    assert item.provenance.commit == c2
    assert os.fsencode(item.provenance.path) == b"caf\xe9.txt"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command to clone")
def test_shallow_clone_counts_the_boundary_commit_as_introducing_its_tree(repo, tmp_path):
    repo.commit({"old": "old"})
    repo.commit({"mid": "mid"})
    c3 = repo.commit({"new": "new"})
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.git_dir}", str(clone)],
        check=True,
        capture_output=True,
    )
    items, errors, src = scan(clone)
    assert errors == []
    assert src.walked_commits == [c3]
    assert {(i.provenance.path, i.provenance.commit) for i in items} == {
        ("old", c3),
        ("mid", c3),
        ("new", c3),
    }


def _messy_worktree(repo):
    repo.commit({".gitignore": "*.log\n", "tracked.py": "v1", "gone.py": "x", "kept.txt": "k",
                 "typed": "a file"})
    repo.checkout()
    repo.write("tracked.py", "modified")
    repo.write("notes/new.txt", "untracked")
    repo.write("notes/deeper/more.txt", "untracked too")
    repo.write("debug.log", "ignored")
    repo.write("sp ace/ü name.txt", "odd path")
    os.remove(os.path.join(repo.workdir, "gone.py"))
    os.remove(os.path.join(repo.workdir, "typed"))
    os.symlink("kept.txt", os.path.join(repo.workdir, "typed"))
    repo.write("both.txt", "staged version")
    repo.stage("both.txt")
    repo.write("both.txt", "work tree version")
    repo.write("added-then-gone.txt", "staged only")
    repo.stage("added-then-gone.txt")
    os.remove(os.path.join(repo.workdir, "added-then-gone.txt"))


@pytest.mark.parametrize("route", ["git", "fork"])
def test_prefetched_worktree_status_is_libgit2s_answer_and_is_used(repo, monkeypatch, route):
    """The CLI computes the status beside its start-up, with the git command or in a forked
    libgit2 child; both must give libgit2's flags, and GitSource must not ask again."""
    from nhiguard.sources import gitstatus

    _messy_worktree(repo)
    want = dict(pygit2.Repository(repo.workdir).status(**gitstatus.STATUS_OPTIONS))
    expected, _, _ = scan(repo.workdir)
    if route == "fork":
        monkeypatch.setattr(gitstatus.shutil, "which", lambda name: None)
    index = os.path.join(repo.workdir, ".git", "index")
    before = os.stat(index).st_mtime_ns
    gitstatus.start(repo.workdir)
    assert gitstatus._children and (gitstatus._children[0].proc is not None) == (route == "git")
    gitstatus._collect()
    assert gitstatus._results[os.path.realpath(repo.workdir)] == want
    assert os.stat(index).st_mtime_ns == before  # the user's index is never rewritten
    asked = []
    real_status = pygit2.Repository.status
    monkeypatch.setattr(pygit2.Repository, "status", lambda self, **kw: asked.append(kw) or real_status(self, **kw))
    got, errors, _ = scan(repo.workdir)
    assert errors == [] and asked == []
    def places(items):
        return sorted((type(i.provenance).__name__, i.provenance.path, i.blob_id) for i in items)
    assert places(got) == places(expected)
    assert {i.provenance.path for i in got if isinstance(i.provenance, FileProvenance)} == {
        "tracked.py", "notes/new.txt", "notes/deeper/more.txt", "both.txt", "sp ace/ü name.txt",
        "typed"}
    # taken once: a second scan asks libgit2 again
    scan(repo.workdir)
    assert asked == [{"untracked_files": "all", "ignored": False}]


def test_status_flags_are_libgit2s():
    from pygit2.enums import FileStatus

    from nhiguard.sources import gitstatus as gs

    for name in ("INDEX_NEW", "INDEX_MODIFIED", "INDEX_DELETED", "INDEX_RENAMED", "INDEX_TYPECHANGE",
                 "WT_NEW", "WT_MODIFIED", "WT_DELETED", "WT_TYPECHANGE", "WT_RENAMED", "CONFLICTED"):
        assert getattr(gs, name) == int(getattr(FileStatus, name)), name


def test_porcelain_parser_refuses_what_it_does_not_know():
    from nhiguard.sources.gitstatus import WT_MODIFIED, WT_NEW, parse_porcelain_v2

    ok = b"1 .M N... 100644 100644 100644 " + b"a" * 40 + b" " + b"b" * 40 + b" dir/a b.txt\0? new\0"
    assert parse_porcelain_v2(ok) == {"dir/a b.txt": WT_MODIFIED, "new": WT_NEW}
    assert parse_porcelain_v2(b"") == {}
    assert parse_porcelain_v2(b"2 R. N... 100644 100644 100644 x y R100 new\0old\0") is None
    assert parse_porcelain_v2(b"1 .M too few fields\0") is None
    assert parse_porcelain_v2(b"garbage") is None


@pytest.mark.parametrize("route", ["git", "fork"])
def test_prefetch_of_a_non_repository_gives_nothing(tmp_path, monkeypatch, route):
    from nhiguard.sources import gitstatus

    if route == "fork":
        monkeypatch.setattr(gitstatus.shutil, "which", lambda name: None)
    (tmp_path / ".git").mkdir()  # looks like a work tree, is not one
    gitstatus.start(str(tmp_path))
    assert gitstatus.take(str(tmp_path)) is None


# --- loose objects libgit2 would hang on ---------------------------------------------------


def _truncate(repo, oid: str, size: int) -> None:
    path = repo.loose_object_path(oid)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.truncate(size)


def _in_child(fn, timeout: float = 20.0):
    """Run fn in a forked child with a deadline, so a hang fails the test instead of the run."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=lambda: q.put(fn()))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail(f"hung for {timeout} s")
    return q.get(timeout=5)


@pytest.mark.parametrize("what", ["tree", "commit", "blob"])
def test_truncated_loose_objects_are_reported_not_hung_on(repo, what, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    c1 = repo.commit({"keep.txt": "kept", "dir/x.txt": "x"})
    c2 = repo.commit({"dir/y.txt": "y", "late.txt": "late"})
    repo.commit({"side.txt": "side"}, ref="refs/heads/side", parents=[c1])
    target = {"tree": str(repo.repo[c2].tree["dir"].id), "commit": c2, "blob": blob_hex("late")}[what]
    _truncate(repo, target, 12)

    def run():
        items, errors, _ = scan(repo.git_dir, include_worktree=False)
        return ([(i.provenance.path, i.blob_id) for i in items], [(e.path, e.message) for e in errors])

    items, errors = _in_child(run)
    assert any(target in p and "truncated" in m for p, m in errors), errors
    paths = {p for p, _ in items}
    assert {"keep.txt", "side.txt"} <= paths  # everything else is still there
    assert blob_hex("late") not in {b for _, b in items} or what != "blob"


def test_intact_loose_objects_are_checked_once(repo, monkeypatch, tmp_path):
    from nhiguard.sources import gitguard

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo.commit({"a.txt": "a", "b.txt": "b"})
    checked = []
    real = gitguard.stream_problem
    monkeypatch.setattr(gitguard, "stream_problem", lambda p: checked.append(p) or real(p))
    assert gitguard.broken_loose_objects(repo.repo) == {}
    first = len(checked)
    assert first >= 4  # two blobs, a tree, a commit
    assert gitguard.broken_loose_objects(repo.repo) == {}
    assert len(checked) == first  # remembered by name and size
    c = repo.commit({"c.txt": "c"})
    _truncate(repo, c, 10)
    assert set(gitguard.broken_loose_objects(repo.repo)) == {c}


def test_stream_problem_tells_truncated_from_intact_and_leaves_garbage_to_libgit2(tmp_path):
    import zlib

    from nhiguard.sources.gitguard import stream_problem

    good = zlib.compress(b"blob 5\0hello" * 1000)
    (tmp_path / "good").write_bytes(good)
    (tmp_path / "short").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "junk").write_bytes(b"not zlib at all")
    assert stream_problem(str(tmp_path / "good")) is None
    assert "truncated" in stream_problem(str(tmp_path / "short"))
    assert "truncated" in stream_problem(str(tmp_path / "empty"))
    assert stream_problem(str(tmp_path / "junk")) is None
    assert "cannot read" in stream_problem(str(tmp_path / "missing"))


def test_work_tree_status_in_a_forked_child_survives_a_truncated_head_tree(repo, monkeypatch, tmp_path):
    from nhiguard.sources import gitstatus

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(gitstatus.shutil, "which", lambda name: None)
    c = repo.commit({"a.txt": "a"})
    repo.checkout()
    repo.write("new.txt", "untracked")
    _truncate(repo, str(repo.repo[c].tree.id), 8)

    def run():
        gitstatus.start(repo.workdir)
        return gitstatus.take(repo.workdir) is not None or True

    assert _in_child(run)


def test_truncated_objects_in_alternates_and_linked_worktrees_are_found(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    c1 = repo.commit({"a.txt": "a", "b.txt": "b"})
    # a repository that borrows every object through objects/info/alternates
    borrower = GitRepo.init(tmp_path / "borrower", bare=True)
    (borrower.git_dir / "objects" / "info" / "alternates").write_text(str(repo.git_dir / "objects") + "\n")
    borrower.set_ref("refs/heads/main", c1)
    wt = repo.repo.add_worktree("side", str(tmp_path / "side"))
    _truncate(repo, blob_hex("b"), 6)

    def run(target):
        def go():
            items, errors, _ = scan(target, include_worktree=False)
            return sorted(i.provenance.path for i in items), [e.message for e in errors]
        return go

    for target in (borrower.git_dir, wt.path):
        paths, errors = _in_child(run(target))
        assert "a.txt" in paths and "b.txt" not in paths
        assert any(blob_hex("b") in m and "truncated" in m for m in errors), errors


def test_a_commit_libgit2_refuses_does_not_hide_the_history_before_it(repo):
    """An author line without an e-mail (old SVN imports): git reads it, libgit2 refuses it."""
    c1 = repo.commit({"secret.env": f"KEY={KEY}\n", "README": "r"})
    c2 = repo.commit({"secret.env": None})
    tree = str(repo.repo[c2].tree_id)
    raw = (f"tree {tree}\nparent {c2}\nauthor Old SVN User 1700000002 +0000\n"
           f"committer Old SVN User 1700000002 +0000\n\nsvn import\n").encode()
    bad = str(repo.repo.odb.write(pygit2.enums.ObjectType.COMMIT, raw))
    with pytest.raises(pygit2.GitError):
        repo.repo[bad]  # what libgit2 makes of it
    repo.set_ref("refs/heads/main", bad)
    items, errors, src = scan(repo.git_dir, include_worktree=False)
    assert errors == []
    assert where(items, f"KEY={KEY}\n") == {("secret.env", c1)}
    assert set(src.walked_commits) == {c1, c2, bad}
