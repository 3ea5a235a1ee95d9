// SPDX-License-Identifier: Apache-2.0
//! tests/sdk/vectors.json: the cases every SDK runs against one sandbox of
//! the built-in image, to behave alike (the C runner is the reference).

use std::time::Duration;

use base64::Engine;
use microsandbox::blocking::Sandbox;
use microsandbox::{split_command, FileOptions, FileType};
use serde_json::Value;

use crate::common::{repo_root, shared};

fn load() -> Value {
    let path = repo_root().join("tests/sdk/vectors.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["version"], 1, "{}: this runner reads version 1", path.display());
    v
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn text_or_b64(o: &Value, key: &str) -> Option<Vec<u8>> {
    if let Some(s) = o[key].as_str() {
        return Some(s.as_bytes().to_vec());
    }
    let k = format!("{key}_b64");
    o.get(&k).map(b64)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

#[test]
fn vectors_exec() {
    let v = load();
    let sb = shared();
    let mut failed = Vec::new();
    for c in v["exec"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let argv = strs(&c["argv"]);
        let mut cmd = match c["command"].as_str() {
            Some(line) => {
                assert_eq!(split_command(line).unwrap(), argv, "{name}: {line:?} splits differently");
                sb.command_line(line)
            }
            None => sb.command(&argv[0]).args(&argv[1..]),
        };
        if let Some(stdin) = text_or_b64(c, "stdin") {
            cmd = cmd.stdin_bytes(stdin);
        }
        if let Some(env) = c["env"].as_object() {
            for (k, val) in env {
                cmd = cmd.env(k, val.as_str().unwrap());
            }
        }
        if let Some(cwd) = c["cwd"].as_str() {
            cmd = cmd.current_dir(cwd);
        }
        if let Some(user) = c["user"].as_str() {
            cmd = cmd.user(user);
        }
        if let Some(ms) = c["timeout_ms"].as_u64() {
            cmd = cmd.timeout(Duration::from_millis(ms));
        }
        let r = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
        let e = &c["expect"];
        let mut why = Vec::new();
        if let Some(out) = text_or_b64(e, "stdout") {
            if r.stdout != out {
                why.push(format!("stdout {:?}", r.stdout_str()));
            }
        }
        if let Some(n) = e["stdout_size"].as_u64() {
            if r.stdout.len() as u64 != n {
                why.push(format!("stdout is {} bytes", r.stdout.len()));
            }
        }
        if let Some(err) = e["stderr"].as_str() {
            if r.stderr_str() != err {
                why.push(format!("stderr {:?}", r.stderr_str()));
            }
        }
        if let Some(sub) = e["stderr_contains"].as_str() {
            if !r.stderr_str().contains(sub) {
                why.push(format!("stderr {:?} lacks {sub:?}", r.stderr_str()));
            }
        }
        let want = (
            e["exit_code"].as_i64().unwrap_or(0) as i32,
            e["signal"].as_i64().unwrap_or(0) as i32,
            e["timed_out"].as_bool().unwrap_or(false),
        );
        if (r.exit_code, r.signal, r.timed_out) != want {
            why.push(format!("exit {:?}, want {want:?}", (r.exit_code, r.signal, r.timed_out)));
        }
        if !why.is_empty() {
            failed.push(format!("{name}: {}", why.join("; ")));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::File => "file",
        FileType::Dir => "dir",
        FileType::Symlink => "symlink",
        _ => "other",
    }
}

#[test]
fn vectors_files() {
    let v = load();
    let sb = shared();
    let f = sb.fs();
    let vf = &v["files"];
    f.mkdir_all(vf["dir"].as_str().unwrap()).unwrap();
    for w in vf["write"].as_array().unwrap() {
        let name = w["name"].as_str().unwrap();
        let path = w["path"].as_str().unwrap();
        let data = text_or_b64(w, "content").unwrap();
        let mut o = FileOptions::new();
        if let Some(m) = w["mode"].as_u64() {
            o = o.mode(m as u32);
        }
        if w["parents"].as_bool() == Some(true) {
            o = o.parents();
        }
        f.write_with(path, &data, o).unwrap_or_else(|e| panic!("write {name}: {e}"));
        assert_eq!(f.read(path).unwrap(), data, "read back {name}");
        let st = f.stat(path).unwrap();
        let e = &w["expect"];
        assert_eq!(
            (st.size, type_name(st.file_type), st.mode),
            (e["size"].as_u64().unwrap(), e["type"].as_str().unwrap(), e["mode"].as_u64().unwrap() as u32),
            "stat {name}"
        );
    }
    let list = &vf["list"];
    let lp = list["path"].as_str().unwrap();
    let names: Vec<String> = f.list(lp).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, strs(&list["names"]));
    let names: Vec<String> =
        f.list_with(lp, FileOptions::new().recursive()).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, strs(&list["recursive_names"]));
    let mk = &vf["mkdir"];
    let mut o = FileOptions::new();
    if mk["parents"].as_bool() == Some(true) {
        o = o.parents();
    }
    f.mkdir_with(mk["path"].as_str().unwrap(), o).unwrap();
    let st = f.stat(mk["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        (type_name(st.file_type), st.mode),
        (mk["expect"]["type"].as_str().unwrap(), mk["expect"]["mode"].as_u64().unwrap() as u32)
    );
    let rn = &vf["rename"];
    let (from, to) = (rn["from"].as_str().unwrap(), rn["to"].as_str().unwrap());
    f.rename(from, to).unwrap();
    assert_eq!(f.read_to_string(to).unwrap(), rn["content"].as_str().unwrap());
    assert!(!f.exists(from).unwrap(), "the renamed file is still there");
    let rm = &vf["remove"];
    let mut o = FileOptions::new();
    if rm["recursive"].as_bool() == Some(true) {
        o = o.recursive();
    }
    f.remove_with(rm["path"].as_str().unwrap(), o).unwrap();
    assert!(!f.exists(rm["path"].as_str().unwrap()).unwrap(), "the removed tree is still there");
}

#[test]
fn vectors_errors() {
    let v = load();
    let sb = shared();
    let f = sb.fs();
    let mut failed = Vec::new();
    for c in v["errors"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let path = c["path"].as_str().unwrap_or("");
        let mut o = FileOptions::new();
        if let Some(u) = c["user"].as_str() {
            o = o.user(u);
        }
        let got: Result<Option<bool>, microsandbox::Error> = match c["op"].as_str().unwrap() {
            "exec" => {
                let argv = strs(&c["argv"]);
                let mut cmd = sb.command(argv.first().map_or("", |s| s.as_str())).args(argv.iter().skip(1));
                if let Some(u) = c["user"].as_str() {
                    cmd = cmd.user(u);
                }
                cmd.output().map(|_| None)
            }
            "read" => f.read_with(path, o).map(|_| None),
            "stat" => f.stat_with(path, o).map(|_| None),
            "exists" => f.exists_with(path, o).map(Some),
            "mkdir" => {
                if c["exclusive"].as_bool() == Some(true) {
                    o = o.exclusive();
                }
                f.mkdir_with(path, o).map(|_| None)
            }
            "write" => f.write_with(path, c["content"].as_str().unwrap_or(""), o).map(|_| None),
            "remove" => f.remove_with(path, o).map(|_| None),
            "open" => Sandbox::get(c["sandbox"].as_str().unwrap()).map(|_| None),
            op => panic!("unknown op {op}"),
        };
        match (c.get("result").and_then(Value::as_bool), got) {
            (Some(want), Ok(Some(b))) if b == want => {}
            (Some(want), other) => failed.push(format!("{name}: {other:?}, want {want}")),
            (None, Err(e)) if e.name() == c["error"].as_str().unwrap() => {}
            (None, other) => failed.push(format!("{name}: {other:?}, want {}", c["error"])),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
