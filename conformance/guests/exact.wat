;; Syscall-exact checks of argument validation: pointers and lengths out of bounds (EFAULT),
;; invalid UTF-8 and NUL bytes in paths (EILSEQ / EINVAL), huge lengths, misaligned pointers,
;; poll_oneoff with no subscriptions. Prints one "label: errno" line (the WASI errno number)
;; per check. The arguments (argv[1..]) are the indices of the checks to run: wasmtime traps
;; on some of these calls, so the runner runs those one at a time. Memory: one page (65536 bytes), so any pointer near 65536 runs off the end.
;;
;; Layout: 0..63 scratch results, 64 an iovec (set by $iov), 97 a misaligned iovec,
;; 592 a second subscription (edited by the checks), 128 "f.txt", 144 "lnk", 160 "new.x", 176 "created.x", 256 + 16k the unusual path byte
;; strings, 512 a zeroed subscription (clock, realtime, timeout 0), 1024 number buffer,
;; 2048 scratch output, 4096 + 64k the label of check k, 40000 the selection bytes,
;; 41000/42000 argv.
;; Tree: f.txt = "hello", lnk -> f.txt, d/ (see cases.py).
(module
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times" (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_advise" (func $fd_advise (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $fd_fdstat_set_flags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_rights" (func $fd_fdstat_set_rights (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times" (func $fd_filestat_set_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $sock_shutdown (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $f (mut i32) (i32.const -1))

  (data (i32.const 97) "\80\00\00\00\00\00\00\00")
  (data (i32.const 128) "f.txt")
  (data (i32.const 144) "lnk")
  (data (i32.const 160) "new.x")
  (data (i32.const 176) "created.x")
  (data (i32.const 256) "\ff") ;; invalid byte ff
  (data (i32.const 272) "a\80b") ;; lone continuation byte
  (data (i32.const 288) "\c0\af") ;; overlong encoding
  (data (i32.const 304) "\ed\a0\80") ;; UTF-16 surrogate
  (data (i32.const 320) "\e6\97") ;; truncated sequence
  (data (i32.const 336) "\f4\90\80\80") ;; above U+10FFFF
  (data (i32.const 352) "f.txt\00x") ;; embedded NUL
  (data (i32.const 368) "\00") ;; NUL only
  (data (i32.const 384) "f.txt\00") ;; trailing NUL
  (data (i32.const 400) "\c3\a9") ;; valid UTF-8, missing
  (data (i32.const 4096) "args_sizes_get argc OOB\00")
  (data (i32.const 4160) "args_sizes_get size OOB\00")
  (data (i32.const 4224) "args_sizes_get argc ptr 0xffffffff\00")
  (data (i32.const 4288) "args_get argv OOB\00")
  (data (i32.const 4352) "args_get buf OOB\00")
  (data (i32.const 4416) "environ_sizes_get count OOB\00")
  (data (i32.const 4480) "environ_get environ OOB\00")
  (data (i32.const 4544) "environ_get buf OOB\00")
  (data (i32.const 4608) "clock_res_get OOB\00")
  (data (i32.const 4672) "clock_time_get OOB\00")
  (data (i32.const 4736) "clock_time_get ptr 0xffffffff\00")
  (data (i32.const 4800) "random_get partly OOB\00")
  (data (i32.const 4864) "random_get len 0xffffffff\00")
  (data (i32.const 4928) "random_get len 0 at the end\00")
  (data (i32.const 4992) "random_get len 0 past the end\00")
  (data (i32.const 5056) "random_get ptr 0xffffffff len 1\00")
  (data (i32.const 5120) "fd_write iovs OOB\00")
  (data (i32.const 5184) "fd_write iovs_len huge\00")
  (data (i32.const 5248) "fd_write iovec buf OOB\00")
  (data (i32.const 5312) "fd_write iovec len 0xffffffff\00")
  (data (i32.const 5376) "fd_write nwritten OOB\00")
  (data (i32.const 5440) "fd_read iovs OOB\00")
  (data (i32.const 5504) "fd_read iovec buf OOB\00")
  (data (i32.const 5568) "fd_read nread OOB\00")
  (data (i32.const 5632) "fd_pread iovs OOB\00")
  (data (i32.const 5696) "fd_pread iovec buf OOB\00")
  (data (i32.const 5760) "fd_pwrite iovs OOB\00")
  (data (i32.const 5824) "fd_pwrite iovec buf OOB\00")
  (data (i32.const 5888) "fd_seek newoffset OOB\00")
  (data (i32.const 5952) "fd_tell offset OOB\00")
  (data (i32.const 6016) "fd_fdstat_get OOB\00")
  (data (i32.const 6080) "fd_filestat_get OOB\00")
  (data (i32.const 6144) "fd_prestat_get OOB\00")
  (data (i32.const 6208) "fd_prestat_dir_name OOB\00")
  (data (i32.const 6272) "fd_readdir buf OOB\00")
  (data (i32.const 6336) "fd_readdir bufused OOB\00")
  (data (i32.const 6400) "fd_readdir buf_len 0xffffffff\00")
  (data (i32.const 6464) "path_open path OOB\00")
  (data (i32.const 6528) "path_open path_len 0xffffffff\00")
  (data (i32.const 6592) "path_open fd_ptr OOB\00")
  (data (i32.const 6656) "path_open fd_ptr OOB, O_CREAT\00")
  (data (i32.const 6720) "path_open invalid byte ff\00")
  (data (i32.const 6784) "path_open lone continuation byte\00")
  (data (i32.const 6848) "path_open overlong encoding\00")
  (data (i32.const 6912) "path_open UTF-16 surrogate\00")
  (data (i32.const 6976) "path_open truncated sequence\00")
  (data (i32.const 7040) "path_open above U+10FFFF\00")
  (data (i32.const 7104) "path_open embedded NUL\00")
  (data (i32.const 7168) "path_open NUL only\00")
  (data (i32.const 7232) "path_open trailing NUL\00")
  (data (i32.const 7296) "path_open valid UTF-8, missing\00")
  (data (i32.const 7360) "path_create_directory invalid UTF-8\00")
  (data (i32.const 7424) "path_create_directory embedded NUL\00")
  (data (i32.const 7488) "path_create_directory OOB\00")
  (data (i32.const 7552) "path_open O_CREAT invalid UTF-8\00")
  (data (i32.const 7616) "path_filestat_get buf OOB\00")
  (data (i32.const 7680) "path_filestat_get path OOB\00")
  (data (i32.const 7744) "path_filestat_get invalid UTF-8\00")
  (data (i32.const 7808) "path_filestat_set_times path OOB\00")
  (data (i32.const 7872) "path_link old OOB\00")
  (data (i32.const 7936) "path_link new OOB\00")
  (data (i32.const 8000) "path_link new invalid UTF-8\00")
  (data (i32.const 8064) "path_readlink buf OOB\00")
  (data (i32.const 8128) "path_readlink bufused OOB\00")
  (data (i32.const 8192) "path_readlink path OOB\00")
  (data (i32.const 8256) "path_remove_directory path OOB\00")
  (data (i32.const 8320) "path_remove_directory invalid UTF-8\00")
  (data (i32.const 8384) "path_rename old OOB\00")
  (data (i32.const 8448) "path_rename new OOB\00")
  (data (i32.const 8512) "path_rename new invalid UTF-8\00")
  (data (i32.const 8576) "path_symlink old OOB\00")
  (data (i32.const 8640) "path_symlink new OOB\00")
  (data (i32.const 8704) "path_symlink old invalid UTF-8\00")
  (data (i32.const 8768) "path_unlink_file path OOB\00")
  (data (i32.const 8832) "path_unlink_file invalid UTF-8\00")
  (data (i32.const 8896) "poll_oneoff 0 subscriptions\00")
  (data (i32.const 8960) "poll_oneoff in OOB\00")
  (data (i32.const 9024) "poll_oneoff out OOB\00")
  (data (i32.const 9088) "poll_oneoff nevents OOB\00")
  (data (i32.const 9152) "poll_oneoff nsubscriptions huge\00")
  (data (i32.const 9216) "fd_fdstat_get misaligned\00")
  (data (i32.const 9280) "fd_filestat_get misaligned\00")
  (data (i32.const 9344) "args_sizes_get misaligned\00")
  (data (i32.const 9408) "clock_time_get misaligned\00")
  (data (i32.const 9472) "fd_write iovs misaligned\00")
  (data (i32.const 9536) "poll_oneoff in misaligned\00")
  (data (i32.const 9600) "fd_readdir buf misaligned\00")
  (data (i32.const 9664) "clock_res_get id 4\00")
  (data (i32.const 9728) "clock_time_get id 4\00")
  (data (i32.const 9792) "clock_time_get id 0xffffffff\00")
  (data (i32.const 9856) "fd_seek whence 3\00")
  (data (i32.const 9920) "fd_seek whence 256\00")
  (data (i32.const 9984) "fd_advise advice 6\00")
  (data (i32.const 10048) "path_open oflags bit 4\00")
  (data (i32.const 10112) "path_open fdflags bit 5\00")
  (data (i32.const 10176) "path_open lookupflags bit 1\00")
  (data (i32.const 10240) "path_open rights bit 40\00")
  (data (i32.const 10304) "fd_fdstat_set_flags bit 5\00")
  (data (i32.const 10368) "fd_fdstat_set_rights bit 40\00")
  (data (i32.const 10432) "fd_filestat_set_times fst bit 4\00")
  (data (i32.const 10496) "path_filestat_get lookupflags bit 1\00")
  (data (i32.const 10560) "path_filestat_set_times fst bit 4\00")
  (data (i32.const 10624) "path_link lookupflags bit 1\00")
  (data (i32.const 10688) "sock_shutdown how 4 on a file\00")
  (data (i32.const 10752) "sock_recv riflags bit 2 on a file\00")
  (data (i32.const 10816) "sock_send siflags bit 0 on a file\00")
  (data (i32.const 10880) "poll_oneoff subscription tag 3\00")
  (data (i32.const 10944) "poll_oneoff clock id 9\00")
  (data (i32.const 11008) "poll_oneoff subclockflags bit 1\00")
  (data (i32.const 11072) "proc_raise 0\00")
  (data (i32.const 11136) "proc_raise SIGTERM\00")
  (data (i32.const 11200) "proc_raise 99\00")

  ;; write len bytes at ptr to stdout (ignoring errors)
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 48) (local.get $ptr))
    (i32.store (i32.const 52) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 48) (i32.const 1) (i32.const 56))))

  ;; strlen of a NUL-terminated string
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; print "<label k>: <value>\n"
  (func $report (param $k i32) (param $value i32)
    (local $label i32) (local $p i32) (local $v i32)
    (local.set $label (i32.add (i32.const 4096) (i32.mul (local.get $k) (i32.const 64))))
    (call $out (local.get $label) (call $strlen (local.get $label)))
    ;; digits written backwards from 1100, then ": " in front
    (local.set $p (i32.const 1100))
    (i32.store8 (local.get $p) (i32.const 10))
    (local.set $v (local.get $value))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v)))
    (local.set $p (i32.sub (local.get $p) (i32.const 2)))
    (i32.store16 (local.get $p) (i32.const 0x203a)) ;; ": "
    (call $out (local.get $p) (i32.sub (i32.const 1101) (local.get $p))))

  ;; set the iovec at 64
  (func $iov (param $buf i32) (param $len i32)
    (i32.store (i32.const 64) (local.get $buf))
    (i32.store (i32.const 68) (local.get $len)))

  ;; argv[1..] are the indices of the checks to run (decimal); no arguments: run them all.
  ;; $want[k] is one byte at 40000 + k.
  (func $select
    (local $argc i32) (local $i i32) (local $p i32) (local $v i32) (local $c i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (local.set $argc (i32.load (i32.const 16)))
    (if (i32.le_u (local.get $argc) (i32.const 1))
      (then (memory.fill (i32.const 40000) (i32.const 1) (i32.const 1000)) (return)))
    (memory.fill (i32.const 40000) (i32.const 0) (i32.const 1000))
    ;; argv pointers at 41000, strings at 42000
    (drop (call $args_get (i32.const 41000) (i32.const 42000)))
    (local.set $i (i32.const 1))
    (loop $arg
      (local.set $p (i32.load (i32.add (i32.const 41000) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $v (i32.const 0))
      (block $end
        (loop $ch
          (local.set $c (i32.load8_u (local.get $p)))
          (br_if $end (i32.lt_u (local.get $c) (i32.const 48)))
          (br_if $end (i32.gt_u (local.get $c) (i32.const 57)))
          (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $ch)))
      (if (i32.lt_u (local.get $v) (i32.const 1000))
        (then (i32.store8 (i32.add (i32.const 40000) (local.get $v)) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $arg (i32.lt_u (local.get $i) (local.get $argc)))))

  (func $want (param $k i32) (result i32)
    (i32.load8_u (i32.add (i32.const 40000) (local.get $k))))

  (func (export "_start")
    ;; open f.txt read-write (fd stored in $f); report how it went as check "setup"
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 0)
          (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 0))
      (then (call $proc_exit (i32.const 99))))
    (global.set $f (i32.load (i32.const 0)))
    (call $select)
    (if (call $want (i32.const 0)) (then (call $report (i32.const 0) (call $args_sizes_get (i32.const 65534) (i32.const 8))))) ;; args_sizes_get argc OOB
    (if (call $want (i32.const 1)) (then (call $report (i32.const 1) (call $args_sizes_get (i32.const 8) (i32.const 65534))))) ;; args_sizes_get size OOB
    (if (call $want (i32.const 2)) (then (call $report (i32.const 2) (call $args_sizes_get (i32.const -1) (i32.const 8))))) ;; args_sizes_get argc ptr 0xffffffff
    (if (call $want (i32.const 3)) (then (call $report (i32.const 3) (call $args_get (i32.const 65534) (i32.const 2048))))) ;; args_get argv OOB
    (if (call $want (i32.const 4)) (then (call $report (i32.const 4) (call $args_get (i32.const 2048) (i32.const 65530))))) ;; args_get buf OOB
    (if (call $want (i32.const 5)) (then (call $report (i32.const 5) (call $environ_sizes_get (i32.const 65534) (i32.const 8))))) ;; environ_sizes_get count OOB
    (if (call $want (i32.const 6)) (then (call $report (i32.const 6) (call $environ_get (i32.const 65534) (i32.const 2048))))) ;; environ_get environ OOB
    (if (call $want (i32.const 7)) (then (call $report (i32.const 7) (call $environ_get (i32.const 2048) (i32.const 65530))))) ;; environ_get buf OOB
    (if (call $want (i32.const 8)) (then (call $report (i32.const 8) (call $clock_res_get (i32.const 1) (i32.const 65532))))) ;; clock_res_get OOB
    (if (call $want (i32.const 9)) (then (call $report (i32.const 9) (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65532))))) ;; clock_time_get OOB
    (if (call $want (i32.const 10)) (then (call $report (i32.const 10) (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const -1))))) ;; clock_time_get ptr 0xffffffff
    (if (call $want (i32.const 11)) (then (call $report (i32.const 11) (call $random_get (i32.const 65000) (i32.const 1000))))) ;; random_get partly OOB
    (if (call $want (i32.const 12)) (then (call $report (i32.const 12) (call $random_get (i32.const 0) (i32.const -1))))) ;; random_get len 0xffffffff
    (if (call $want (i32.const 13)) (then (call $report (i32.const 13) (call $random_get (i32.const 65536) (i32.const 0))))) ;; random_get len 0 at the end
    (if (call $want (i32.const 14)) (then (call $report (i32.const 14) (call $random_get (i32.const 65537) (i32.const 0))))) ;; random_get len 0 past the end
    (if (call $want (i32.const 15)) (then (call $report (i32.const 15) (call $random_get (i32.const -1) (i32.const 1))))) ;; random_get ptr 0xffffffff len 1
    (if (call $want (i32.const 16)) (then (call $report (i32.const 16) (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8))))) ;; fd_write iovs OOB
    (if (call $want (i32.const 17)) (then (call $report (i32.const 17) (call $fd_write (i32.const 1) (i32.const 64) (i32.const 0x10000000) (i32.const 8))))) ;; fd_write iovs_len huge
    (if (call $want (i32.const 18)) (then (call $report (i32.const 18) (call $iov (i32.const 65530) (i32.const 100)) (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 8))))) ;; fd_write iovec buf OOB
    (if (call $want (i32.const 19)) (then (call $report (i32.const 19) (call $iov (i32.const 0) (i32.const -1)) (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 8))))) ;; fd_write iovec len 0xffffffff
    (if (call $want (i32.const 20)) (then (call $report (i32.const 20) (call $iov (i32.const 128) (i32.const 0)) (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 65534))))) ;; fd_write nwritten OOB
    (if (call $want (i32.const 21)) (then (call $report (i32.const 21) (call $fd_read (global.get $f) (i32.const 65532) (i32.const 1) (i32.const 8))))) ;; fd_read iovs OOB
    (if (call $want (i32.const 22)) (then (call $report (i32.const 22) (call $iov (i32.const 65530) (i32.const 100)) (call $fd_read (global.get $f) (i32.const 64) (i32.const 1) (i32.const 8))))) ;; fd_read iovec buf OOB
    (if (call $want (i32.const 23)) (then (call $report (i32.const 23) (call $iov (i32.const 1024) (i32.const 0)) (call $fd_read (global.get $f) (i32.const 64) (i32.const 1) (i32.const 65534))))) ;; fd_read nread OOB
    (if (call $want (i32.const 24)) (then (call $report (i32.const 24) (call $fd_pread (global.get $f) (i32.const 65532) (i32.const 1) (i64.const 0) (i32.const 8))))) ;; fd_pread iovs OOB
    (if (call $want (i32.const 25)) (then (call $report (i32.const 25) (call $iov (i32.const 65530) (i32.const 100)) (call $fd_pread (global.get $f) (i32.const 64) (i32.const 1) (i64.const 0) (i32.const 8))))) ;; fd_pread iovec buf OOB
    (if (call $want (i32.const 26)) (then (call $report (i32.const 26) (call $fd_pwrite (global.get $f) (i32.const 65532) (i32.const 1) (i64.const 0) (i32.const 8))))) ;; fd_pwrite iovs OOB
    (if (call $want (i32.const 27)) (then (call $report (i32.const 27) (call $iov (i32.const 65530) (i32.const 100)) (call $fd_pwrite (global.get $f) (i32.const 64) (i32.const 1) (i64.const 0) (i32.const 8))))) ;; fd_pwrite iovec buf OOB
    (if (call $want (i32.const 28)) (then (call $report (i32.const 28) (call $fd_seek (global.get $f) (i64.const 0) (i32.const 0) (i32.const 65532))))) ;; fd_seek newoffset OOB
    (if (call $want (i32.const 29)) (then (call $report (i32.const 29) (call $fd_tell (global.get $f) (i32.const 65532))))) ;; fd_tell offset OOB
    (if (call $want (i32.const 30)) (then (call $report (i32.const 30) (call $fd_fdstat_get (global.get $f) (i32.const 65530))))) ;; fd_fdstat_get OOB
    (if (call $want (i32.const 31)) (then (call $report (i32.const 31) (call $fd_filestat_get (global.get $f) (i32.const 65500))))) ;; fd_filestat_get OOB
    (if (call $want (i32.const 32)) (then (call $report (i32.const 32) (call $fd_prestat_get (i32.const 3) (i32.const 65532))))) ;; fd_prestat_get OOB
    (if (call $want (i32.const 33)) (then (call $report (i32.const 33) (call $fd_prestat_dir_name (i32.const 3) (i32.const 65532) (i32.const 8))))) ;; fd_prestat_dir_name OOB
    (if (call $want (i32.const 34)) (then (call $report (i32.const 34) (call $fd_readdir (i32.const 3) (i32.const 65500) (i32.const 100) (i64.const 0) (i32.const 8))))) ;; fd_readdir buf OOB
    (if (call $want (i32.const 35)) (then (call $report (i32.const 35) (call $fd_readdir (i32.const 3) (i32.const 2048) (i32.const 100) (i64.const 0) (i32.const 65534))))) ;; fd_readdir bufused OOB
    (if (call $want (i32.const 36)) (then (call $report (i32.const 36) (call $fd_readdir (i32.const 3) (i32.const 2048) (i32.const -1) (i64.const 0) (i32.const 8))))) ;; fd_readdir buf_len 0xffffffff
    (if (call $want (i32.const 37)) (then (call $report (i32.const 37) (call $path_open (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 10) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open path OOB
    (if (call $want (i32.const 38)) (then (call $report (i32.const 38) (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const -1) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open path_len 0xffffffff
    (if (call $want (i32.const 39)) (then (call $report (i32.const 39) (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 65534))))) ;; path_open fd_ptr OOB
    (if (call $want (i32.const 40)) (then (call $report (i32.const 40) (call $path_open (i32.const 3) (i32.const 0) (i32.const 176) (i32.const 9) (i32.const 1) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 65534))))) ;; path_open fd_ptr OOB, O_CREAT
    (if (call $want (i32.const 41)) (then (call $report (i32.const 41) (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open invalid byte ff
    (if (call $want (i32.const 42)) (then (call $report (i32.const 42) (call $path_open (i32.const 3) (i32.const 0) (i32.const 272) (i32.const 3) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open lone continuation byte
    (if (call $want (i32.const 43)) (then (call $report (i32.const 43) (call $path_open (i32.const 3) (i32.const 0) (i32.const 288) (i32.const 2) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open overlong encoding
    (if (call $want (i32.const 44)) (then (call $report (i32.const 44) (call $path_open (i32.const 3) (i32.const 0) (i32.const 304) (i32.const 3) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open UTF-16 surrogate
    (if (call $want (i32.const 45)) (then (call $report (i32.const 45) (call $path_open (i32.const 3) (i32.const 0) (i32.const 320) (i32.const 2) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open truncated sequence
    (if (call $want (i32.const 46)) (then (call $report (i32.const 46) (call $path_open (i32.const 3) (i32.const 0) (i32.const 336) (i32.const 4) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open above U+10FFFF
    (if (call $want (i32.const 47)) (then (call $report (i32.const 47) (call $path_open (i32.const 3) (i32.const 0) (i32.const 352) (i32.const 7) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open embedded NUL
    (if (call $want (i32.const 48)) (then (call $report (i32.const 48) (call $path_open (i32.const 3) (i32.const 0) (i32.const 368) (i32.const 1) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open NUL only
    (if (call $want (i32.const 49)) (then (call $report (i32.const 49) (call $path_open (i32.const 3) (i32.const 0) (i32.const 384) (i32.const 6) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open trailing NUL
    (if (call $want (i32.const 50)) (then (call $report (i32.const 50) (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 2) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open valid UTF-8, missing
    (if (call $want (i32.const 51)) (then (call $report (i32.const 51) (call $path_create_directory (i32.const 3) (i32.const 256) (i32.const 1))))) ;; path_create_directory invalid UTF-8
    (if (call $want (i32.const 52)) (then (call $report (i32.const 52) (call $path_create_directory (i32.const 3) (i32.const 352) (i32.const 7))))) ;; path_create_directory embedded NUL
    (if (call $want (i32.const 53)) (then (call $report (i32.const 53) (call $path_create_directory (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_create_directory OOB
    (if (call $want (i32.const 54)) (then (call $report (i32.const 54) (call $path_open (i32.const 3) (i32.const 0) (i32.const 304) (i32.const 3) (i32.const 1) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 8))))) ;; path_open O_CREAT invalid UTF-8
    (if (call $want (i32.const 55)) (then (call $report (i32.const 55) (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 65500))))) ;; path_filestat_get buf OOB
    (if (call $want (i32.const 56)) (then (call $report (i32.const 56) (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 10) (i32.const 2048))))) ;; path_filestat_get path OOB
    (if (call $want (i32.const 57)) (then (call $report (i32.const 57) (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 2048))))) ;; path_filestat_get invalid UTF-8
    (if (call $want (i32.const 58)) (then (call $report (i32.const 58) (call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 10) (i64.const 0) (i64.const 0) (i32.const 0))))) ;; path_filestat_set_times path OOB
    (if (call $want (i32.const 59)) (then (call $report (i32.const 59) (call $path_link (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 10) (i32.const 3) (i32.const 160) (i32.const 5))))) ;; path_link old OOB
    (if (call $want (i32.const 60)) (then (call $report (i32.const 60) (call $path_link (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_link new OOB
    (if (call $want (i32.const 61)) (then (call $report (i32.const 61) (call $path_link (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 256) (i32.const 1))))) ;; path_link new invalid UTF-8
    (if (call $want (i32.const 62)) (then (call $report (i32.const 62) (call $path_readlink (i32.const 3) (i32.const 144) (i32.const 3) (i32.const 65530) (i32.const 100) (i32.const 8))))) ;; path_readlink buf OOB
    (if (call $want (i32.const 63)) (then (call $report (i32.const 63) (call $path_readlink (i32.const 3) (i32.const 144) (i32.const 3) (i32.const 2048) (i32.const 100) (i32.const 65534))))) ;; path_readlink bufused OOB
    (if (call $want (i32.const 64)) (then (call $report (i32.const 64) (call $path_readlink (i32.const 3) (i32.const 65530) (i32.const 10) (i32.const 2048) (i32.const 100) (i32.const 8))))) ;; path_readlink path OOB
    (if (call $want (i32.const 65)) (then (call $report (i32.const 65) (call $path_remove_directory (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_remove_directory path OOB
    (if (call $want (i32.const 66)) (then (call $report (i32.const 66) (call $path_remove_directory (i32.const 3) (i32.const 256) (i32.const 1))))) ;; path_remove_directory invalid UTF-8
    (if (call $want (i32.const 67)) (then (call $report (i32.const 67) (call $path_rename (i32.const 3) (i32.const 65530) (i32.const 10) (i32.const 3) (i32.const 160) (i32.const 5))))) ;; path_rename old OOB
    (if (call $want (i32.const 68)) (then (call $report (i32.const 68) (call $path_rename (i32.const 3) (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_rename new OOB
    (if (call $want (i32.const 69)) (then (call $report (i32.const 69) (call $path_rename (i32.const 3) (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 256) (i32.const 1))))) ;; path_rename new invalid UTF-8
    (if (call $want (i32.const 70)) (then (call $report (i32.const 70) (call $path_symlink (i32.const 65530) (i32.const 10) (i32.const 3) (i32.const 160) (i32.const 5))))) ;; path_symlink old OOB
    (if (call $want (i32.const 71)) (then (call $report (i32.const 71) (call $path_symlink (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_symlink new OOB
    (if (call $want (i32.const 72)) (then (call $report (i32.const 72) (call $path_symlink (i32.const 256) (i32.const 1) (i32.const 3) (i32.const 160) (i32.const 5))))) ;; path_symlink old invalid UTF-8
    (if (call $want (i32.const 73)) (then (call $report (i32.const 73) (call $path_unlink_file (i32.const 3) (i32.const 65530) (i32.const 10))))) ;; path_unlink_file path OOB
    (if (call $want (i32.const 74)) (then (call $report (i32.const 74) (call $path_unlink_file (i32.const 3) (i32.const 256) (i32.const 1))))) ;; path_unlink_file invalid UTF-8
    (if (call $want (i32.const 75)) (then (call $report (i32.const 75) (call $poll_oneoff (i32.const 512) (i32.const 2048) (i32.const 0) (i32.const 8))))) ;; poll_oneoff 0 subscriptions
    (if (call $want (i32.const 76)) (then (call $report (i32.const 76) (call $poll_oneoff (i32.const 65500) (i32.const 2048) (i32.const 1) (i32.const 8))))) ;; poll_oneoff in OOB
    (if (call $want (i32.const 77)) (then (call $report (i32.const 77) (call $poll_oneoff (i32.const 512) (i32.const 65530) (i32.const 1) (i32.const 8))))) ;; poll_oneoff out OOB
    (if (call $want (i32.const 78)) (then (call $report (i32.const 78) (call $poll_oneoff (i32.const 512) (i32.const 2048) (i32.const 1) (i32.const 65534))))) ;; poll_oneoff nevents OOB
    (if (call $want (i32.const 79)) (then (call $report (i32.const 79) (call $poll_oneoff (i32.const 512) (i32.const 2048) (i32.const 0x08000000) (i32.const 8))))) ;; poll_oneoff nsubscriptions huge
    (if (call $want (i32.const 80)) (then (call $report (i32.const 80) (call $fd_fdstat_get (global.get $f) (i32.const 2049))))) ;; fd_fdstat_get misaligned
    (if (call $want (i32.const 81)) (then (call $report (i32.const 81) (call $fd_filestat_get (global.get $f) (i32.const 2051))))) ;; fd_filestat_get misaligned
    (if (call $want (i32.const 82)) (then (call $report (i32.const 82) (call $args_sizes_get (i32.const 2049) (i32.const 2055))))) ;; args_sizes_get misaligned
    (if (call $want (i32.const 83)) (then (call $report (i32.const 83) (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 2051))))) ;; clock_time_get misaligned
    (if (call $want (i32.const 84)) (then (call $report (i32.const 84) (call $fd_write (i32.const 1) (i32.const 97) (i32.const 1) (i32.const 8))))) ;; fd_write iovs misaligned
    (if (call $want (i32.const 85)) (then (call $report (i32.const 85) (call $poll_oneoff (i32.const 513) (i32.const 2048) (i32.const 1) (i32.const 8))))) ;; poll_oneoff in misaligned
    (if (call $want (i32.const 86)) (then (call $report (i32.const 86) (call $fd_readdir (i32.const 3) (i32.const 2049) (i32.const 100) (i64.const 0) (i32.const 8))))) ;; fd_readdir buf misaligned
    (if (call $want (i32.const 87)) (then (call $report (i32.const 87) (call $clock_res_get (i32.const 4) (i32.const 0))))) ;; clock_res_get id 4
    (if (call $want (i32.const 88)) (then (call $report (i32.const 88) (call $clock_time_get (i32.const 4) (i64.const 0) (i32.const 0))))) ;; clock_time_get id 4
    (if (call $want (i32.const 89)) (then (call $report (i32.const 89) (call $clock_time_get (i32.const -1) (i64.const 0) (i32.const 0))))) ;; clock_time_get id 0xffffffff
    (if (call $want (i32.const 90)) (then (call $report (i32.const 90) (call $fd_seek (global.get $f) (i64.const 0) (i32.const 3) (i32.const 0))))) ;; fd_seek whence 3
    (if (call $want (i32.const 91)) (then (call $report (i32.const 91) (call $fd_seek (global.get $f) (i64.const 0) (i32.const 256) (i32.const 0))))) ;; fd_seek whence 256
    (if (call $want (i32.const 92)) (then (call $report (i32.const 92) (call $fd_advise (global.get $f) (i64.const 0) (i64.const 0) (i32.const 6))))) ;; fd_advise advice 6
    (if (call $want (i32.const 93)) (then (call $report (i32.const 93) (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 16) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 0))))) ;; path_open oflags bit 4
    (if (call $want (i32.const 94)) (then (call $report (i32.const 94) (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 32) (i32.const 0))))) ;; path_open fdflags bit 5
    (if (call $want (i32.const 95)) (then (call $report (i32.const 95) (call $path_open (i32.const 3) (i32.const 2) (i32.const 128) (i32.const 5) (i32.const 0) (i64.const 0x3fffffff) (i64.const 0x3fffffff) (i32.const 0) (i32.const 0))))) ;; path_open lookupflags bit 1
    (if (call $want (i32.const 96)) (then (call $report (i32.const 96) (call $path_open (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i32.const 0) (i64.const 0x10000000000) (i64.const 0) (i32.const 0) (i32.const 0))))) ;; path_open rights bit 40
    (if (call $want (i32.const 97)) (then (call $report (i32.const 97) (call $fd_fdstat_set_flags (global.get $f) (i32.const 32))))) ;; fd_fdstat_set_flags bit 5
    (if (call $want (i32.const 98)) (then (call $report (i32.const 98) (call $fd_fdstat_set_rights (global.get $f) (i64.const 0x10000000000) (i64.const 0))))) ;; fd_fdstat_set_rights bit 40
    (if (call $want (i32.const 99)) (then (call $report (i32.const 99) (call $fd_filestat_set_times (global.get $f) (i64.const 0) (i64.const 0) (i32.const 16))))) ;; fd_filestat_set_times fst bit 4
    (if (call $want (i32.const 100)) (then (call $report (i32.const 100) (call $path_filestat_get (i32.const 3) (i32.const 2) (i32.const 128) (i32.const 5) (i32.const 2048))))) ;; path_filestat_get lookupflags bit 1
    (if (call $want (i32.const 101)) (then (call $report (i32.const 101) (call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 128) (i32.const 5) (i64.const 0) (i64.const 0) (i32.const 16))))) ;; path_filestat_set_times fst bit 4
    (if (call $want (i32.const 102)) (then (call $report (i32.const 102) (call $path_link (i32.const 3) (i32.const 2) (i32.const 128) (i32.const 5) (i32.const 3) (i32.const 160) (i32.const 5))))) ;; path_link lookupflags bit 1
    (if (call $want (i32.const 103)) (then (call $report (i32.const 103) (call $sock_shutdown (global.get $f) (i32.const 4))))) ;; sock_shutdown how 4 on a file
    (if (call $want (i32.const 104)) (then (call $report (i32.const 104) (call $sock_recv (global.get $f) (i32.const 64) (i32.const 0) (i32.const 4) (i32.const 8) (i32.const 12))))) ;; sock_recv riflags bit 2 on a file
    (if (call $want (i32.const 105)) (then (call $report (i32.const 105) (call $sock_send (global.get $f) (i32.const 64) (i32.const 0) (i32.const 1) (i32.const 8))))) ;; sock_send siflags bit 0 on a file
    (if (call $want (i32.const 106)) (then (call $report (i32.const 106) (i32.store8 (i32.const 600) (i32.const 3)) (call $poll_oneoff (i32.const 592) (i32.const 2048) (i32.const 1) (i32.const 8))))) ;; poll_oneoff subscription tag 3
    (if (call $want (i32.const 107)) (then (call $report (i32.const 107) (i32.store8 (i32.const 600) (i32.const 0)) (i32.store (i32.const 608) (i32.const 9)) (call $poll_oneoff (i32.const 592) (i32.const 2048) (i32.const 1) (i32.const 8))))) ;; poll_oneoff clock id 9
    (if (call $want (i32.const 108)) (then (call $report (i32.const 108) (i32.store (i32.const 608) (i32.const 1)) (i32.store16 (i32.const 632) (i32.const 2)) (call $poll_oneoff (i32.const 592) (i32.const 2048) (i32.const 1) (i32.const 8))))) ;; poll_oneoff subclockflags bit 1
    (if (call $want (i32.const 109)) (then (call $report (i32.const 109) (call $proc_raise (i32.const 0))))) ;; proc_raise 0
    (if (call $want (i32.const 110)) (then (call $report (i32.const 110) (call $proc_raise (i32.const 15))))) ;; proc_raise SIGTERM
    (if (call $want (i32.const 111)) (then (call $report (i32.const 111) (call $proc_raise (i32.const 99))))) ;; proc_raise 99
  )
)
