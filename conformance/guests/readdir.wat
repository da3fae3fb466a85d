;; fd_readdir at the byte level on the preopen (fd 3), whose tree holds exactly one file,
;; "file.txt", so that the listing is ".", "..", "file.txt" on every host. For each
;; (cookie, buf_len) pair below it prints "cookie=C len=L errno=E used=U " and then the U
;; bytes the host wrote, in hex, with the d_ino field of every entry header zeroed (inode
;; numbers differ between hosts), and checks that the bytes after `used` are untouched.
;; This shows the truncation rule ("This function fills the output buffer as much as
;; possible, potentially truncating the last directory entry") and d_next cookies exactly.
;; Memory: the buffer at 1024 (filled with 0xEE before each call), bufused at 16, hex output
;; at 4096, the (cookie, len) table at 256.
(module
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; pairs of (cookie: u32, buf_len: u32)
  (data (i32.const 256)
    "\00\00\00\00\00\00\00\00"   ;; cookie 0, len 0
    "\00\00\00\00\01\00\00\00"   ;; cookie 0, len 1
    "\00\00\00\00\17\00\00\00"   ;; cookie 0, len 23
    "\00\00\00\00\18\00\00\00"   ;; cookie 0, len 24 (one header, no name)
    "\00\00\00\00\19\00\00\00"   ;; cookie 0, len 25 (first entry exactly)
    "\00\00\00\00\1a\00\00\00"   ;; cookie 0, len 26
    "\00\00\00\00\33\00\00\00"   ;; cookie 0, len 51 (two entries exactly)
    "\00\00\00\00\40\00\00\00"   ;; cookie 0, len 64 (third entry truncated)
    "\00\00\00\00\53\00\00\00"   ;; cookie 0, len 83 (all three exactly)
    "\00\00\00\00\00\01\00\00"   ;; cookie 0, len 256
    "\01\00\00\00\00\01\00\00"   ;; cookie 1
    "\02\00\00\00\00\01\00\00"   ;; cookie 2
    "\02\00\00\00\0a\00\00\00"   ;; cookie 2, len 10
    "\03\00\00\00\00\01\00\00"   ;; cookie 3 (the end)
    "\04\00\00\00\00\01\00\00"   ;; cookie 4 (past the end)
    "\ff\ff\ff\ff\00\01\00\00")  ;; cookie 0xffffffff
  (global $npairs i32 (i32.const 16))
  (data (i32.const 128) "0123456789abcdef")
  (data (i32.const 160) "cookie=")
  (data (i32.const 168) " len=")
  (data (i32.const 176) " errno=")
  (data (i32.const 184) " used=")
  (data (i32.const 192) " untouched=")
  (data (i32.const 208) "\n")

  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 32) (local.get $ptr))
    (i32.store (i32.const 36) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40))))

  (func $num (param $v i32)
    (local $p i32)
    (local.set $p (i32.const 600))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v)))
    (call $out (local.get $p) (i32.sub (i32.const 600) (local.get $p))))

  ;; zero the d_ino bytes (offset 8..16 of each header) that lie below $used
  (func $zero_inodes (param $used i32)
    (local $off i32) (local $i i32) (local $namlen i32)
    (block $done
      (loop $entry
        (br_if $done (i32.ge_u (local.get $off) (local.get $used)))
        (local.set $i (i32.const 8))
        (block $z
          (loop $byte
            (br_if $z (i32.ge_u (local.get $i) (i32.const 16)))
            (br_if $z (i32.ge_u (i32.add (local.get $off) (local.get $i)) (local.get $used)))
            (i32.store8 (i32.add (i32.const 1024) (i32.add (local.get $off) (local.get $i))) (i32.const 0))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $byte)))
        ;; a header cut short has no reliable d_namlen: stop
        (br_if $done (i32.gt_u (i32.add (local.get $off) (i32.const 24)) (local.get $used)))
        (local.set $namlen (i32.load (i32.add (i32.const 1040) (local.get $off))))
        (local.set $off (i32.add (local.get $off) (i32.add (i32.const 24) (local.get $namlen))))
        (br $entry))))

  (func $hex (param $len i32)
    (local $i i32) (local $b i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $b (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
        (i32.store8 (i32.add (i32.const 4096) (i32.shl (local.get $i) (i32.const 1)))
          (i32.load8_u (i32.add (i32.const 128) (i32.shr_u (local.get $b) (i32.const 4)))))
        (i32.store8 (i32.add (i32.const 4097) (i32.shl (local.get $i) (i32.const 1)))
          (i32.load8_u (i32.add (i32.const 128) (i32.and (local.get $b) (i32.const 15)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $out (i32.const 4096) (i32.shl (local.get $len) (i32.const 1))))

  (func (export "_start")
    (local $k i32) (local $cookie i32) (local $len i32) (local $e i32) (local $used i32)
    (local $i i32) (local $ok i32)
    (loop $pair
      (local.set $cookie (i32.load (i32.add (i32.const 256) (i32.shl (local.get $k) (i32.const 3)))))
      (local.set $len (i32.load (i32.add (i32.const 260) (i32.shl (local.get $k) (i32.const 3)))))
      (memory.fill (i32.const 1024) (i32.const 0xEE) (i32.const 1024))
      (i32.store (i32.const 16) (i32.const 0x7777))
      (local.set $e (call $fd_readdir (i32.const 3) (i32.const 1024) (local.get $len)
                       (i64.extend_i32_u (local.get $cookie)) (i32.const 16)))
      (local.set $used (i32.load (i32.const 16)))
      (if (local.get $e) (then (local.set $used (i32.const 0))))
      ;; bytes past `used` within the first 1024 must still be 0xEE
      (local.set $ok (i32.const 1))
      (local.set $i (local.get $used))
      (block $checked
        (loop $scan
          (br_if $checked (i32.ge_u (local.get $i) (i32.const 1024)))
          (if (i32.ne (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 0xEE))
            (then (local.set $ok (i32.const 0))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan)))
      (call $zero_inodes (local.get $used))
      (call $out (i32.const 160) (i32.const 7))
      (call $num (local.get $cookie))
      (call $out (i32.const 168) (i32.const 5))
      (call $num (local.get $len))
      (call $out (i32.const 176) (i32.const 7))
      (call $num (local.get $e))
      (call $out (i32.const 184) (i32.const 6))
      (call $num (local.get $used))
      (call $out (i32.const 192) (i32.const 11))
      (call $num (local.get $ok))
      (call $out (i32.const 208) (i32.const 1))
      (call $hex (if (result i32) (i32.gt_u (local.get $used) (i32.const 1024))
                   (then (i32.const 0)) (else (local.get $used))))
      (call $out (i32.const 208) (i32.const 1))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $pair (i32.lt_u (local.get $k) (global.get $npairs)))))
)
