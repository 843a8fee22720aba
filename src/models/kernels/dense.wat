;; Dense layers for the env runners' inference (dense_wasm.ts): float32, WebAssembly SIMD, four lanes
;; per instruction. Assembled with wabt into dense_wasm_binary.ts by `npm run build:kernels`; a test
;; assembles this file again and checks the committed binary is its output.
;;
;; dense(input, inStride, inDim, weights, bias, output, outStride, rows, activation): for `rows` rows,
;;   output[r][o] = activation(bias[o] + sum_i input[r][i] * weights[i][o])
;; Pointers and strides are in bytes. outStride, a multiple of 32 (8 outputs), is also the row stride of
;; the weights, stored [inDim][outStride / 4] (tfjs's [in][out] order, rows padded with zero columns).
;; activation: 0 linear, 1 tanh, 2 relu.
;;
;; Each pass computes 8 outputs (two f32x4 accumulators per row) for 4 rows at a time, so every weight
;; vector loaded serves 4 rows, then for the rows left one at a time. The activation is applied in one
;; pass over the rows written, after them.
(module
  (memory (export "memory") 1)

  ;; 4 rows x 8 outputs per column step.
  (func $pass4
    (param $input i32) (param $inStride i32) (param $inDim i32) (param $weights i32)
    (param $bias i32) (param $output i32) (param $outStride i32)
    (local $column i32) (local $inputsLeft i32) (local $w i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128)
    (local $a2 v128) (local $b2 v128) (local $a3 v128) (local $b3 v128)
    (local $wa v128) (local $wb v128) (local $s v128) (local $o i32)
    (local.set $column (i32.const 0))
    (loop $columns
      ;; The accumulators start at the bias.
      (local.set $a0 (v128.load (i32.add (local.get $bias) (local.get $column))))
      (local.set $b0 (v128.load offset=16 (i32.add (local.get $bias) (local.get $column))))
      (local.set $a1 (local.get $a0)) (local.set $b1 (local.get $b0))
      (local.set $a2 (local.get $a0)) (local.set $b2 (local.get $b0))
      (local.set $a3 (local.get $a0)) (local.set $b3 (local.get $b0))
      (local.set $w (i32.add (local.get $weights) (local.get $column)))
      (local.set $x0 (local.get $input))
      (local.set $x1 (i32.add (local.get $x0) (local.get $inStride)))
      (local.set $x2 (i32.add (local.get $x1) (local.get $inStride)))
      (local.set $x3 (i32.add (local.get $x2) (local.get $inStride)))
      (local.set $inputsLeft (local.get $inDim))
      (loop $inputs
        (local.set $wa (v128.load (local.get $w)))
        (local.set $wb (v128.load offset=16 (local.get $w)))
        (local.set $s (v128.load32_splat (local.get $x0)))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $s) (local.get $wa))))
        (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $s) (local.get $wb))))
        (local.set $s (v128.load32_splat (local.get $x1)))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $s) (local.get $wa))))
        (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $s) (local.get $wb))))
        (local.set $s (v128.load32_splat (local.get $x2)))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $s) (local.get $wa))))
        (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $s) (local.get $wb))))
        (local.set $s (v128.load32_splat (local.get $x3)))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $s) (local.get $wa))))
        (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $s) (local.get $wb))))
        (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
        (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
        (local.set $x2 (i32.add (local.get $x2) (i32.const 4)))
        (local.set $x3 (i32.add (local.get $x3) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (local.get $outStride)))
        (br_if $inputs (local.tee $inputsLeft (i32.sub (local.get $inputsLeft) (i32.const 1)))))
      (local.set $o (i32.add (local.get $output) (local.get $column)))
      (v128.store (local.get $o) (local.get $a0))
      (v128.store offset=16 (local.get $o) (local.get $b0))
      (local.set $o (i32.add (local.get $o) (local.get $outStride)))
      (v128.store (local.get $o) (local.get $a1))
      (v128.store offset=16 (local.get $o) (local.get $b1))
      (local.set $o (i32.add (local.get $o) (local.get $outStride)))
      (v128.store (local.get $o) (local.get $a2))
      (v128.store offset=16 (local.get $o) (local.get $b2))
      (local.set $o (i32.add (local.get $o) (local.get $outStride)))
      (v128.store (local.get $o) (local.get $a3))
      (v128.store offset=16 (local.get $o) (local.get $b3))
      (br_if $columns
        (i32.lt_u
          (local.tee $column (i32.add (local.get $column) (i32.const 32)))
          (local.get $outStride)))))

  ;; 1 row x 8 outputs per column step.
  (func $pass1
    (param $input i32) (param $inDim i32) (param $weights i32)
    (param $bias i32) (param $output i32) (param $outStride i32)
    (local $column i32) (local $inputsLeft i32) (local $w i32) (local $x i32)
    (local $a v128) (local $b v128) (local $s v128)
    (local.set $column (i32.const 0))
    (loop $columns
      (local.set $a (v128.load (i32.add (local.get $bias) (local.get $column))))
      (local.set $b (v128.load offset=16 (i32.add (local.get $bias) (local.get $column))))
      (local.set $w (i32.add (local.get $weights) (local.get $column)))
      (local.set $x (local.get $input))
      (local.set $inputsLeft (local.get $inDim))
      (loop $inputs
        (local.set $s (v128.load32_splat (local.get $x)))
        (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $s) (v128.load (local.get $w)))))
        (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $w)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (local.get $outStride)))
        (br_if $inputs (local.tee $inputsLeft (i32.sub (local.get $inputsLeft) (i32.const 1)))))
      (v128.store (i32.add (local.get $output) (local.get $column)) (local.get $a))
      (v128.store offset=16 (i32.add (local.get $output) (local.get $column)) (local.get $b))
      (br_if $columns
        (i32.lt_u
          (local.tee $column (i32.add (local.get $column) (i32.const 32)))
          (local.get $outStride)))))

  ;; The activation over `bytes` bytes of outputs from `start` (a multiple of 16 bytes). tanh(x) =
  ;; x P(x^2) / Q(x^2) for |x| <= 10, else +-1: a rational minimax fit for relative error
  ;; (scripts/fit_tanh.py; 4e-9 in float64, within float32 rounding as evaluated here). pmax / pmin keep a
  ;; NaN input NaN, as Math.tanh does. P's coefficients from x^0 up, Q's from x^2 up (Q(0) = 1).
  (func $activate (param $start i32) (param $bytes i32) (param $activation i32)
    (local $p i32) (local $end i32) (local $c v128) (local $s v128) (local $poly v128) (local $q v128)
    (local $min v128) (local $max v128)
    ;; The coefficients, splatted into registers once, before the loop (once a vector took 2.2x as long).
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $p4 v128) (local $p5 v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local.set $p (local.get $start))
    (local.set $end (i32.add (local.get $start) (local.get $bytes)))
    (if (i32.eq (local.get $activation) (i32.const 1))
      (then
        (local.set $min (v128.const f32x4 -10 -10 -10 -10))
        (local.set $max (v128.const f32x4 10 10 10 10))
        (local.set $p0 (v128.const f32x4 0.9999999960390673 0.9999999960390673 0.9999999960390673 0.9999999960390673))
        (local.set $p1 (v128.const f32x4 0.13632416562969774 0.13632416562969774 0.13632416562969774 0.13632416562969774))
        (local.set $p2 (v128.const f32x4 0.003809070259568821 0.003809070259568821 0.003809070259568821 0.003809070259568821))
        (local.set $p3 (v128.const f32x4 2.683019944985886e-5 2.683019944985886e-5 2.683019944985886e-5 2.683019944985886e-5))
        (local.set $p4 (v128.const f32x4 2.7841848193187873e-8 2.7841848193187873e-8 2.7841848193187873e-8 2.7841848193187873e-8))
        (local.set $p5 (v128.const f32x4 -1.0263515282005919e-11 -1.0263515282005919e-11 -1.0263515282005919e-11 -1.0263515282005919e-11))
        (local.set $q0 (v128.const f32x4 0.4696574629379938 0.4696574629379938 0.4696574629379938 0.4696574629379938))
        (local.set $q1 (v128.const f32x4 0.027028279280693585 0.027028279280693585 0.027028279280693585 0.027028279280693585))
        (local.set $q2 (v128.const f32x4 0.00038347750614852827 0.00038347750614852827 0.00038347750614852827 0.00038347750614852827))
        (local.set $q3 (v128.const f32x4 1.2062264410987836e-6 1.2062264410987836e-6 1.2062264410987836e-6 1.2062264410987836e-6))
        (loop $tanh
          (local.set $c (f32x4.pmin (f32x4.pmax (v128.load (local.get $p)) (local.get $min)) (local.get $max)))
          (local.set $s (f32x4.mul (local.get $c) (local.get $c)))
          ;; Horner's rule: P(s) = p0 + s (p1 + s (p2 + s (p3 + s (p4 + s p5))))
          (local.set $poly (local.get $p5))
          (local.set $poly (f32x4.add (local.get $p4) (f32x4.mul (local.get $s) (local.get $poly))))
          (local.set $poly (f32x4.add (local.get $p3) (f32x4.mul (local.get $s) (local.get $poly))))
          (local.set $poly (f32x4.add (local.get $p2) (f32x4.mul (local.get $s) (local.get $poly))))
          (local.set $poly (f32x4.add (local.get $p1) (f32x4.mul (local.get $s) (local.get $poly))))
          (local.set $poly (f32x4.add (local.get $p0) (f32x4.mul (local.get $s) (local.get $poly))))
          ;; Q(s) = 1 + s (q0 + s (q1 + s (q2 + s q3)))
          (local.set $q (local.get $q3))
          (local.set $q (f32x4.add (local.get $q2) (f32x4.mul (local.get $s) (local.get $q))))
          (local.set $q (f32x4.add (local.get $q1) (f32x4.mul (local.get $s) (local.get $q))))
          (local.set $q (f32x4.add (local.get $q0) (f32x4.mul (local.get $s) (local.get $q))))
          (local.set $q (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $s) (local.get $q))))
          (v128.store (local.get $p) (f32x4.div (f32x4.mul (local.get $c) (local.get $poly)) (local.get $q)))
          (br_if $tanh (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $activation) (i32.const 2))
      (then
        (loop $relu
          (v128.store (local.get $p) (f32x4.max (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0)))
          (br_if $relu (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))))

  (func (export "dense")
    (param $input i32) (param $inStride i32) (param $inDim i32) (param $weights i32) (param $bias i32)
    (param $output i32) (param $outStride i32) (param $rows i32) (param $activation i32)
    (local $start i32) (local $bytes i32)
    (local.set $start (local.get $output))
    (local.set $bytes (i32.mul (local.get $rows) (local.get $outStride)))
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.lt_u (local.get $rows) (i32.const 4)))
        (call $pass4 (local.get $input) (local.get $inStride) (local.get $inDim) (local.get $weights)
          (local.get $bias) (local.get $output) (local.get $outStride))
        (local.set $input (i32.add (local.get $input) (i32.mul (local.get $inStride) (i32.const 4))))
        (local.set $output (i32.add (local.get $output) (i32.mul (local.get $outStride) (i32.const 4))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 4)))
        (br $rows4)))
    (block $done1
      (loop $rows1
        (br_if $done1 (i32.eqz (local.get $rows)))
        (call $pass1 (local.get $input) (local.get $inDim) (local.get $weights)
          (local.get $bias) (local.get $output) (local.get $outStride))
        (local.set $input (i32.add (local.get $input) (local.get $inStride)))
        (local.set $output (i32.add (local.get $output) (local.get $outStride)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $rows1)))
    (if (local.get $bytes)
      (then (call $activate (local.get $start) (local.get $bytes) (local.get $activation)))))
)
