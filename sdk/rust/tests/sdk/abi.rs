// SPDX-License-Identifier: Apache-2.0
//! microsandbox-sys is written by hand: every struct's size and every
//! field's offset is checked here against include/msb.h as a C compiler
//! lays it out, and every function the header exports must be declared.

use std::mem::{offset_of, size_of};
use std::process::Command;

use microsandbox_sys as sys;

use crate::common::repo_root;

macro_rules! layout {
    ($out:ident; $($t:ident { $($f:ident $(as $cf:ident)?),* $(,)? })*) => {
        $(
            $out.push((format!("sizeof({})", stringify!($t)), size_of::<sys::$t>()));
            $(
                #[allow(unused_variables)]
                let cf = stringify!($f);
                $( let cf = stringify!($cf); )?
                $out.push((format!("offsetof({}, {})", stringify!($t), cf), offset_of!(sys::$t, $f)));
                $out.push((format!("sizeof((({} *)0)->{})", stringify!($t), cf), field_size(|x: &sys::$t| &x.$f)));
            )*
        )*
    };
}

fn field_size<T, F>(_: impl Fn(&T) -> &F) -> usize {
    size_of::<F>()
}

#[test]
fn structs_match_the_header() {
    let mut v: Vec<(String, usize)> = Vec::new();
    layout!(v;
        msb_error { code, message }
        msb_net_config { deny_all, allow, allow_cidr, block_cidr, dns_nameserver, ports, plugin, allow_host }
        msb_volume { kind, guest_path, source, arg, dir, size_mib, readonly, direct_io, overlay_mib, cache, cache_timeout_ms }
        msb_secret { env, source, ref_ as ref, hosts, inject }
        msb_sandbox_config { name, image, cpus, memory_mib, disk_mib, env, workdir, boot_timeout_ms, cmd, net,
            ephemeral, kernel, user, entrypoint, image_cmd, volumes, nvolumes, secrets, nsecrets,
            on_secret_violation, tls_bypass, ntls_bypass, tls_upstream_ca, ntls_upstream_ca }
        msb_sandbox_info { name, image, status, cpus, memory_mib, pid, created_at, started_at, stopped_at, error,
            cmd_state, cmd_exit_code, from_snapshot }
        msb_port { host_ip, host_port, guest_port }
        msb_snapshot_info { name, source, kind, reason, image, cpus, memory_mib, created_at, ram_bytes, disk_bytes,
            size_bytes, users }
        msb_restore_opts { name, env, cpus, memory_mib, disk_only, ephemeral, boot_timeout_ms }
        msb_stats { name, status, running, guest, cpus, memory_limit_bytes, uptime_ms, cpu_percent, cpu_time_ns,
            memory_rss_bytes, memory_used_bytes, memory_total_bytes, disk_bytes, disk_used_bytes,
            disk_total_bytes, net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets, processes }
        msb_exec_opts { env, workdir, user, tty, rows, cols, stdin, main, timeout_ms }
        msb_exec_event { type_ as type, data, len, pid, exit_code, signal, timed_out }
        msb_output { out, err, out_len, err_len, exit_code, signal, timed_out }
        msb_file_info { name, type_ as type, mode, uid, gid, nlink, size, mtime, mtime_nsec, link }
        msb_file_opts { user, mode, parents, recursive, exclusive, append, nofollow }
        msb_file_event { type_ as type, data, len, entry, size }
        msb_copy_opts { user, progress, ctx }
        msb_pull_progress { phase, digest, done, total, index, count }
        msb_pull_opts { insecure, progress, ctx }
        msb_image_info { reference, canonical, digest, id, size, layers, pulled_at, fetched, builtin }
        msb_login_options { insecure }
        msb_load_opts { tag, progress, ctx }
        msb_project_event { sandbox, name, what, ms, detail }
        msb_project_opts { only, stop_timeout_s, volumes, progress, ctx }
        msb_project_entry { key, name, status, state, image }
        msb_volume_info { name, size_mib, used_bytes, created_at, project, path, users, running }
        msb_event { seq, time, source, topic, data, json, dropped }
        msb_plugin_info { name, version, kind, language, hooks, command, description, reference, digest, path, size,
            files, installed_at, verified }
        msb_sync_progress { phase, done, total, chunks_done, chunks_total, image }
        msb_sync_opts { ref_ as ref, name, insecure, force, trust, progress, ctx }
        msb_sync_info { name, reference, digest, parent, disk_bytes, chunks, transferred, bytes, reused, up_to_date,
            dropped }
    );
    let mut c = String::from("#include <stddef.h>\n#include <stdio.h>\n#include <msb.h>\nint main(void) {\n");
    for (expr, _) in &v {
        c.push_str(&format!("\tprintf(\"%zu\\n\", (size_t){expr});\n"));
    }
    c.push_str("\treturn 0;\n}\n");
    let dir = std::env::temp_dir().join(format!("msb-rust-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("abi.c"), c).unwrap();
    let cflags = Command::new("pkg-config").args(["--cflags", "libmsb"]).output().expect("pkg-config");
    assert!(cflags.status.success(), "pkg-config --cflags libmsb: {}", String::from_utf8_lossy(&cflags.stderr));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(String::from_utf8_lossy(&cflags.stdout).split_whitespace())
        .arg("-o")
        .arg(dir.join("abi"))
        .arg(dir.join("abi.c"))
        .status()
        .expect("a C compiler");
    assert!(st.success(), "compiling the layout probe failed");
    let out = Command::new(dir.join("abi")).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let got: Vec<usize> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got.len(), v.len());
    let bad: Vec<String> = v
        .iter()
        .zip(&got)
        .filter(|((_, rust), c)| rust != *c)
        .map(|((expr, rust), c)| format!("{expr}: C {c}, Rust {rust}"))
        .collect();
    assert!(bad.is_empty(), "layouts differ from include/msb.h:\n{}", bad.join("\n"));
}

/// The library loaded at run time agrees too (msb_abi_sizeof), for a
/// libmsb other than the one whose header the test compiled against.
#[test]
fn sizes_match_the_library() {
    macro_rules! sizes {
        ($($t:ident)*) => {{
            let mut bad = Vec::new();
            $(
                let name = std::ffi::CString::new(stringify!($t)).unwrap();
                // SAFETY: a C string of ours.
                let c = unsafe { sys::msb_abi_sizeof(name.as_ptr()) };
                if c != 0 && c != size_of::<sys::$t>() {
                    bad.push(format!("{}: libmsb {c}, Rust {}", stringify!($t), size_of::<sys::$t>()));
                }
            )*
            bad
        }};
    }
    let bad = sizes!(msb_error msb_net_config msb_volume msb_secret msb_sandbox_config msb_sandbox_info
        msb_port /* 0: not listed */ msb_snapshot_info msb_restore_opts msb_stats msb_exec_opts msb_exec_event msb_output
        msb_file_info msb_file_opts msb_file_event msb_copy_opts msb_pull_progress msb_pull_opts
        msb_image_info msb_load_opts msb_login_options msb_sync_progress msb_sync_opts msb_sync_info
        msb_volume_info msb_project_event msb_project_opts msb_project_entry msb_event msb_plugin_info);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_function_of_the_header_is_declared() {
    let header = std::fs::read_to_string(repo_root().join("include/msb.h")).unwrap();
    let decls = std::fs::read_to_string(repo_root().join("sdk/rust/sys/src/lib.rs")).unwrap();
    // "MSB_API <type> [*]name(" over one or two lines.
    let flat = header.replace('\n', " ");
    let mut missing = Vec::new();
    let mut n = 0;
    for part in flat.split("MSB_API ").skip(1) {
        let Some(head) = part.split('(').next() else { continue };
        let name = head.split(|c: char| c == ' ' || c == '*').filter(|w| !w.is_empty()).last().unwrap_or("");
        if !name.starts_with("msb_") {
            continue;
        }
        n += 1;
        if !decls.contains(&format!("pub fn {name}(")) {
            missing.push(name.to_owned());
        }
    }
    assert!(n > 60, "found only {n} functions in msb.h");
    assert!(
        missing.is_empty(),
        "include/msb.h has functions microsandbox-sys does not declare: {missing:?}; add each to \
         sdk/rust/sys/src/lib.rs as `pub fn NAME(ARGS) -> RET;` in its extern \"C\" block, written as \
         the others there are (and its structs, if new, with their fields in the header's order)"
    );
}
