;; args_sizes_get / args_get / environ_sizes_get / environ_get at the byte level: prints the
;; four sizes as decimal numbers, then the raw argv buffer and the raw environ buffer exactly
;; as the host filled them (NUL terminators included), then checks that every pointer of
;; the pointer arrays points into its buffer right after the previous string's NUL.
;; Memory: sizes at 0..15, pointer arrays at 1024 (argv) and 2048 (environ), buffers at
;; 8192 (argv) and 16384 (environ), number formatting at 512.
(module
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "argc=")
  (data (i32.const 264) " argv_buf_size=")
  (data (i32.const 280) " environc=")
  (data (i32.const 296) " environ_buf_size=")
  (data (i32.const 320) "\n")
  (data (i32.const 328) "pointers consistent=")
  (data (i32.const 352) "errno=")

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

  ;; exit with 100 + errno when a call fails
  (func $ok (param $e i32)
    (if (local.get $e)
      (then
        (call $out (i32.const 352) (i32.const 6))
        (call $num (local.get $e))
        (call $out (i32.const 320) (i32.const 1))
        (call $proc_exit (i32.add (i32.const 100) (local.get $e))))))

  ;; 1 if the n pointers at $arr walk the buffer at $buf string by string, ending at $size
  (func $consistent (param $arr i32) (param $n i32) (param $buf i32) (param $size i32) (result i32)
    (local $i i32) (local $expect i32) (local $p i32)
    (local.set $expect (local.get $buf))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $p (i32.load (i32.add (local.get $arr) (i32.mul (local.get $i) (i32.const 4)))))
        (if (i32.ne (local.get $p) (local.get $expect)) (then (return (i32.const 0))))
        ;; skip to the byte after the NUL
        (block $nul
          (loop $scan
            (br_if $nul (i32.eqz (i32.load8_u (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $scan)))
        (local.set $expect (i32.add (local.get $p) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.eq (local.get $expect) (i32.add (local.get $buf) (local.get $size))))

  (func (export "_start")
    (call $ok (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (call $ok (call $environ_sizes_get (i32.const 8) (i32.const 12)))
    (call $out (i32.const 256) (i32.const 5))
    (call $num (i32.load (i32.const 0)))
    (call $out (i32.const 264) (i32.const 15))
    (call $num (i32.load (i32.const 4)))
    (call $out (i32.const 280) (i32.const 10))
    (call $num (i32.load (i32.const 8)))
    (call $out (i32.const 296) (i32.const 18))
    (call $num (i32.load (i32.const 12)))
    (call $out (i32.const 320) (i32.const 1))
    (call $ok (call $args_get (i32.const 1024) (i32.const 8192)))
    (call $ok (call $environ_get (i32.const 2048) (i32.const 16384)))
    (call $out (i32.const 8192) (i32.load (i32.const 4)))
    (call $out (i32.const 320) (i32.const 1))
    (call $out (i32.const 16384) (i32.load (i32.const 12)))
    (call $out (i32.const 320) (i32.const 1))
    (call $out (i32.const 328) (i32.const 20))
    (call $num (i32.and
      (call $consistent (i32.const 1024) (i32.load (i32.const 0)) (i32.const 8192) (i32.load (i32.const 4)))
      (call $consistent (i32.const 2048) (i32.load (i32.const 8)) (i32.const 16384) (i32.load (i32.const 12)))))
    (call $out (i32.const 320) (i32.const 1)))
)
