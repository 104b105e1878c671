#!/usr/bin/env python3
"""A Dockerfile replayed without Docker: each stage a Debian chroot.

    image-build.py DOCKERFILE TARGET OUTDIR [--context DIR] [--build-arg K=V]...

There is no Docker engine on the machines that test pgapp, so the images'
recipes are run here instead: a stage `FROM debian:SUITE[-slim]` starts
from a minimal debootstrap of SUITE (cached in .pgapp/image/base-SUITE),
RUN executes in a chroot of the stage (with /proc mounted around it),
COPY reads the build context filtered by .dockerignore, or another stage.
Only the stages TARGET needs are built.  OUTDIR receives the target's root
file system (OUTDIR/rootfs) and its configuration (OUTDIR/config.json:
user, env, workdir, entrypoint, cmd, healthcheck, stopsignal), which is
what a container of the image would start from.

What it is not: a container runtime.  Namespaces, cgroups and image
layers are out of scope; the point is that every instruction of the
shipped Dockerfile runs, in order, on the Debian release it names.
Root only (debootstrap, chroot, mount).  Errors: one line, exit 1.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Instructions that only describe the image (recorded or ignored).
METADATA = {"EXPOSE", "LABEL", "VOLUME", "MAINTAINER"}
KNOWN = METADATA | {"ARG", "ENV", "WORKDIR", "USER", "RUN", "COPY", "ENTRYPOINT", "CMD",
                    "HEALTHCHECK", "STOPSIGNAL"}


class BuildError(Exception):
    pass


# --- parsing ---------------------------------------------------------------

def instructions(text):
    """[(line number, INSTRUCTION, arguments)], continuations joined."""
    out, cur, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#") or (not cur and not s):
            continue
        if not cur:
            start = n
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        cur = ""
    if cur:
        raise BuildError("the last instruction ends with a line continuation")
    return out


def substitute(text, env):
    """${VAR}, ${VAR:-default} and $VAR, as Docker expands them."""
    def repl(m):
        name = m.group(1) or m.group(3)
        value = env.get(name, "")
        if m.group(2) is not None and value == "":
            return m.group(2)
        return value
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", repl, text)


def json_or_shell(args):
    """Exec form (a JSON array) or shell form, as an argv."""
    if args.startswith("["):
        try:
            argv = json.loads(args)
        except ValueError:
            raise BuildError("not a JSON array: %s" % args)
        if not all(isinstance(a, str) for a in argv):
            raise BuildError("not an array of strings: %s" % args)
        return argv
    return ["/bin/sh", "-c", args]


class Stage:
    def __init__(self, index, name, base):
        self.index, self.name, self.base = index, name, base
        self.steps = []            # (line, INSTRUCTION, args)
        self.args = {}             # ARGs declared in the stage

    def label(self):
        return self.name or str(self.index)


def parse(text, build_args):
    """The stages of a Dockerfile and the global ARGs."""
    stages, global_args = [], {}
    for line, ins, args in instructions(text):
        if ins == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            if not m:
                raise BuildError("line %d: cannot read FROM %s" % (line, args))
            stages.append(Stage(len(stages), m.group(2), substitute(m.group(1), global_args)))
        elif ins == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name] = build_args.get(name, default)
        elif not stages:
            raise BuildError("line %d: %s before the first FROM" % (line, ins))
        else:
            stages[-1].steps.append((line, ins, args))
    if not stages:
        raise BuildError("no FROM in the Dockerfile")
    return stages, global_args


def find_stage(stages, ref):
    for s in stages:
        if s.name == ref or str(s.index) == ref:
            return s
    return None


def needed(stages, target):
    """The stages TARGET depends on (FROM stage, COPY --from), in order."""
    todo, seen = [target], set()
    while todo:
        s = todo.pop()
        if s.index in seen:
            continue
        seen.add(s.index)
        parent = find_stage(stages[:s.index], s.base)
        if parent:
            todo.append(parent)
        for line, ins, args in s.steps:
            m = re.match(r"--from=(\S+)", args) if ins == "COPY" else None
            if m:
                dep = find_stage(stages[:s.index], m.group(1))
                if dep is None:
                    raise BuildError("line %d: no earlier stage %s" % (line, m.group(1)))
                todo.append(dep)
    return [s for s in stages if s.index in seen]


# --- .dockerignore -----------------------------------------------------------

def ignore_rules(context):
    """[(regex, excluded?)] from CONTEXT/.dockerignore."""
    rules = []
    path = os.path.join(context, ".dockerignore")
    if not os.path.exists(path):
        return rules
    with open(path) as f:
        for raw in f:
            p = raw.strip()
            if not p or p.startswith("#"):
                continue
            negate = p.startswith("!")
            p = os.path.normpath(p.lstrip("!").strip()).lstrip("/")
            rx = ""
            i = 0
            while i < len(p):
                if p.startswith("**/", i):
                    rx += "(?:.*/)?"
                    i += 3
                elif p.startswith("**", i):
                    rx += ".*"
                    i += 2
                elif p[i] == "*":
                    rx += "[^/]*"
                    i += 1
                elif p[i] == "?":
                    rx += "[^/]"
                    i += 1
                else:
                    rx += re.escape(p[i])
                    i += 1
            rules.append((re.compile(rx + "$"), not negate))
    return rules


def ignored(rules, relpath):
    """Docker's rule: the last pattern that matches the path or one of its
    parent directories decides."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    verdict = False
    for rx, exclude in rules:
        if any(rx.match(p) for p in prefixes):
            verdict = exclude
    return verdict


# --- building ----------------------------------------------------------------

def run(argv, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, **kw)


def base_rootfs(image, cache):
    """A fresh copy of the debootstrap for IMAGE (debian:SUITE[-slim])."""
    m = re.match(r"(?:docker\.io/)?(?:library/)?debian:([a-z]+)(?:-slim)?$", image)
    if not m:
        raise BuildError("base image %s cannot be replayed without Docker "
                         "(only debian:SUITE and debian:SUITE-slim)" % image)
    suite = m.group(1)
    base = os.path.join(cache, "base-" + suite)
    if not os.path.exists(os.path.join(base, ".pgapp-ready")):
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(cache, exist_ok=True)
        say("debootstrap %s (once; cached in %s)" % (suite, base))
        # no mirror argument: debootstrap's own default
        with open(base + ".log", "w") as log:
            if run(["debootstrap", "--variant=minbase", suite, base],
                   stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                raise BuildError("debootstrap %s failed (log: %s.log)" % (suite, base))
        open(os.path.join(base, ".pgapp-ready"), "w").close()
    return base


def in_root(root, path, follow_last=False):
    """The host path of PATH inside the stage ROOT, resolved as the chroot
    would see it: a symbolic link (absolute or with "..") never leads out
    of ROOT.  The last component is followed only when asked (a directory
    to create or a file to read); a file to write replaces a link."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved, hops = [], 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            resolved = resolved[:-1]
            continue
        host = os.path.join(root, *resolved, part)
        if (parts or follow_last) and os.path.islink(host):
            hops += 1
            if hops > 40:
                raise BuildError("too many symbolic links in %s" % path)
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def put_file(src, target):
    """cp -a of one file or link to TARGET (replaced, never written through)."""
    if os.path.islink(target) or os.path.isfile(target):
        os.unlink(target)
    shutil.copy2(src, target, follow_symlinks=False)
    os.lchown(target, 0, 0)


def copy_tree(src, dst):
    """cp -a: owners, modes and links kept."""
    if run(["cp", "-a", "--", src, dst]).returncode != 0:
        raise BuildError("cannot copy %s to %s" % (src, dst))


class Builder:
    def __init__(self, context, out, cache, build_args):
        self.context, self.out, self.cache = context, out, cache
        self.build_args = build_args
        self.rules = ignore_rules(context)
        self.roots = {}            # stage index -> root directory
        self.configs = {}          # stage index -> config dict

    def stage_root(self, stage):
        return os.path.join(self.out, "stages", stage.label())

    def build(self, stages, global_args, stage):
        root = self.stage_root(stage)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.dirname(root), exist_ok=True)
        parent = find_stage(stages[:stage.index], stage.base)
        if parent:
            copy_tree(self.roots[parent.index], root)
            config = json.loads(json.dumps(self.configs[parent.index]))
        else:
            copy_tree(base_rootfs(stage.base, self.cache), root)
            os.unlink(os.path.join(root, ".pgapp-ready"))
            config = {"user": "", "env": {"PATH": DEFAULT_PATH}, "workdir": "/",
                      "entrypoint": None, "cmd": None, "healthcheck": None,
                      "stopsignal": "SIGTERM"}
        shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        args, cmd_here = {}, False
        say("stage %s (FROM %s)" % (stage.label(), stage.base))
        for line, ins, text in stage.steps:
            scope = dict(config["env"])
            scope.update(args)
            where = "line %d" % line
            if ins == "ARG":
                name, _, default = text.partition("=")
                args[name] = self.build_args.get(name, global_args.get(name, default))
            elif ins == "ENV":
                for name, value in env_pairs(text):
                    config["env"][name] = substitute(value, scope)
            elif ins == "WORKDIR":
                config["workdir"] = os.path.normpath(os.path.join(config["workdir"], substitute(text, scope)))
                os.makedirs(in_root(root, config["workdir"], True), exist_ok=True)
            elif ins == "USER":
                config["user"] = substitute(text, scope)
            elif ins == "RUN":
                self.run_step(root, config, args, json_or_shell(text), where)
            elif ins == "COPY":
                self.copy_step(stages, stage, root, config, substitute(text, scope), where)
            elif ins == "ENTRYPOINT":
                config["entrypoint"] = json_or_shell(text)
                if not cmd_here:   # as Docker: an inherited CMD is dropped
                    config["cmd"] = None
            elif ins == "CMD":
                config["cmd"], cmd_here = json_or_shell(text), True
            elif ins == "HEALTHCHECK":
                m = re.search(r"\bCMD\s+(.*)$", text)
                config["healthcheck"] = json_or_shell(m.group(1)) if m else None
            elif ins == "STOPSIGNAL":
                config["stopsignal"] = text
        os.unlink(os.path.join(root, "etc/resolv.conf"))
        self.roots[stage.index] = root
        self.configs[stage.index] = config

    def run_step(self, root, config, args, argv, where):
        env = dict(args)
        env.update(config["env"])
        env.setdefault("HOME", "/root")
        userspec = ["--userspec=" + config["user"]] if config["user"] else []
        say("%s: RUN %s" % (where, " ".join(argv)[:100]))
        run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")], check=True)
        try:
            # chroot changes directory to / ; the shell then goes to WORKDIR
            rc = run(["chroot"] + userspec + [root, "/usr/bin/env", "-i"] +
                     ["%s=%s" % kv for kv in env.items()] +
                     ["/bin/sh", "-c", 'cd "$0" && exec "$@"', config["workdir"]] + argv,
                     stdout=sys.stderr).returncode
        finally:
            run(["umount", os.path.join(root, "proc")])
        if rc != 0:
            raise BuildError("%s: RUN %s: exit status %d" % (where, " ".join(argv), rc))

    def copy_step(self, stages, stage, root, config, text, where):
        dep, sources, dest = copy_args(text, where)
        if not dest.startswith("/"):
            dest = os.path.join(config["workdir"], dest)
        for src in sources:
            if dep is None:
                path = self.check_context_source(src, where)
            else:
                path = in_root(self.roots[find_stage(stages[:stage.index], dep).index], src, True)
                if not os.path.lexists(path):
                    raise BuildError("%s: COPY %s: no such file in stage %s" % (where, src, dep))
            if os.path.isdir(path) and not os.path.islink(path):
                self.copy_dir(path, root, dest,
                              os.path.relpath(path, self.context) if dep is None else None)
            else:
                name = os.path.join(dest, os.path.basename(path)) if dest.endswith("/") else dest
                os.makedirs(in_root(root, os.path.dirname(name), True), exist_ok=True)
                put_file(path, in_root(root, name))

    def check_context_source(self, src, where):
        """The host path of a COPY source in the build context."""
        path = os.path.normpath(os.path.join(self.context, src.lstrip("/")))
        if path != self.context and not path.startswith(self.context + "/"):
            raise BuildError("%s: COPY %s: outside the build context" % (where, src))
        if not os.path.lexists(path):
            raise BuildError("%s: COPY %s: no such file in the build context" % (where, src))
        if ignored(self.rules, os.path.relpath(path, self.context)):
            raise BuildError("%s: COPY %s: excluded by .dockerignore" % (where, src))
        return path

    def check(self, stages):
        """What can be refused before anything is built: unknown
        instructions, malformed arguments, context files to COPY."""
        for stage in stages:
            for line, ins, text in stage.steps:
                where = "line %d" % line
                if ins not in KNOWN:
                    raise BuildError("%s: %s is not supported" % (where, ins))
                if ins in ("RUN", "CMD", "ENTRYPOINT"):
                    json_or_shell(text)
                elif ins == "COPY":
                    dep, sources, _ = copy_args(text, where)
                    for src in sources if dep is None and "$" not in text else []:
                        self.check_context_source(src, where)

    def copy_dir(self, src, root, dest, context_rel):
        """The directory's contents (not itself) to DEST in ROOT,
        .dockerignore applied to context files; everything owned by root,
        as Docker does."""
        for dirpath, dirnames, filenames in os.walk(src):
            rel_dir = os.path.relpath(dirpath, src)
            target_dir = in_root(root, os.path.normpath(os.path.join(dest, rel_dir)), True)
            os.makedirs(target_dir, exist_ok=True)
            os.chown(target_dir, 0, 0)
            for name in sorted(dirnames + filenames):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if context_rel is not None and \
                        ignored(self.rules, os.path.normpath(os.path.join(context_rel, rel))):
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                if name in filenames or os.path.islink(os.path.join(dirpath, name)):
                    put_file(os.path.join(dirpath, name), os.path.join(target_dir, name))


def copy_args(text, where):
    """COPY [--from=STAGE] SRC... DEST -> (STAGE or None, [SRC], DEST)."""
    words, dep = shlex.split(text), None
    while words and words[0].startswith("--"):
        opt = words.pop(0)
        if not opt.startswith("--from="):
            raise BuildError("%s: COPY %s is not supported" % (where, opt))
        dep = opt[len("--from="):]
    if len(words) < 2:
        raise BuildError("%s: COPY needs a source and a destination" % where)
    if len(words) > 2 and not words[-1].endswith("/"):
        raise BuildError("%s: COPY of several sources needs a directory ending in /" % where)
    return dep, words[:-1], words[-1]


def env_pairs(text):
    """ENV K=V [K2=V2...] or the legacy ENV K V."""
    words = shlex.split(text)
    if words and "=" not in words[0]:
        return [(words[0], text.split(None, 1)[1] if len(words) > 1 else "")]
    return [tuple(w.split("=", 1)) for w in words]


def say(msg):
    print("image-build: " + msg, file=sys.stderr, flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dockerfile")
    ap.add_argument("target")
    ap.add_argument("outdir")
    ap.add_argument("--context", default=ROOT)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".pgapp", "image"))
    ap.add_argument("--build-arg", action="append", default=[])
    opts = ap.parse_args(argv)
    try:
        build_args = {}
        for kv in opts.build_arg:
            if "=" not in kv:
                raise BuildError("--build-arg %s: expected NAME=VALUE" % kv)
            k, v = kv.split("=", 1)
            build_args[k] = v
        with open(opts.dockerfile) as f:
            stages, global_args = parse(f.read(), build_args)
        target = find_stage(stages, opts.target)
        if target is None:
            raise BuildError("no stage %s in %s" % (opts.target, opts.dockerfile))
        out = os.path.abspath(opts.outdir)
        builder = Builder(os.path.abspath(opts.context), out, os.path.abspath(opts.cache), build_args)
        builder.check(stages)
        if os.geteuid() != 0:
            raise BuildError("needs root (debootstrap, chroot, mount)")
        for stage in needed(stages, target):
            builder.build(stages, global_args, stage)
        rootfs = os.path.join(out, "rootfs")
        if os.path.lexists(rootfs):
            os.unlink(rootfs)
        os.symlink(os.path.relpath(builder.roots[target.index], out), rootfs)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(builder.configs[target.index], f, indent=1)
        say("%s: %s" % (target.label(), rootfs))
    except (BuildError, OSError, subprocess.CalledProcessError) as e:
        print("image-build: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
