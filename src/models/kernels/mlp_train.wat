;; A fused training step for MLP modules (src/learner/fused_mlp.ts): forward pass, the loss and its
;; gradient (PPO's clipped loss: `ppo_step`; DQN's TD loss: `td_step`), the backward pass, global-norm
;; gradient clipping and Adam, for a whole minibatch in one call. float32 matrices, WebAssembly SIMD
;; (four lanes per instruction); the per-row loss arithmetic in float64 with the host's Math.exp and
;; Math.log (imported). Assembled with wabt into mlp_train_wasm_binary.ts by `npm run build:kernels`; a
;; test checks the committed binary is this file's.
;;
;; Memory (byte offsets; fused_mlp.ts lays it out and writes the header):
;;   header at 0, one i32 per field (the $H_* constants below name their offsets);
;;   a table of layers, 64 bytes each (the $L_* offsets), in the catalog's flat layout order (tower by
;;   tower, first layer to last): a tower reads the observation or an earlier tower's output, so going
;;   through the table backwards every layer's output gradient is complete when it is reached;
;;   the parameters, their gradient and Adam's two moments: four regions of the same layout (per layer
;;   the kernel [inDim][paddedOut] then the bias [paddedOut], then a Gaussian's log-std), where rows are
;;   padded with zeros to a multiple of 8 floats. Padding stays zero: its gradient is always 0;
;;   per layer its outputs Y and dLoss/dY (D, turned into dLoss/d(pre-activation) in place), [rows][paddedOut].
;;
;; Every matrix product is one routine, $gemm: C = Init + A B, with B row-major ([k][n], row stride =
;; C's) and A read through two strides, so A or its transpose: forward Y = X W (+ bias), the weight
;; gradient dW = X^T D, and the input gradient dX (+)= D W^T (W transposed into scratch first).
;;
;; The memory is shared (imported), so that other threads' instances of this module can compute parts of
;; the large loops in it (src/learner/kernel_threads.ts): row blocks of a product (`gemm_rows`), ranges of
;; an activation (`activate`, `activate_backward`) or of Adam (`adam_range`), or a whole pass's towers
;; (`forward_layers`, `backward_layers`) when the towers are independent.
(module
  (import "math" "exp" (func $exp (param f64) (result f64)))
  (import "math" "log" (func $log (param f64) (result f64)))
  ;; The host's product for the large ones (fused_mlp.ts: split over threads, a native BLAS): the same
  ;; arguments as $gemm; returns 1 when it computed C, 0 when this kernel should.
  (import "host" "gemm"
    (func $hostGemm (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  ;; The host's split of a long elementwise loop over threads: $activate (op 0: p, -, bytes, activation) or
  ;; $activateBackward (op 1: d, y, bytes, activation); returns 1 when done, 0 when this kernel should.
  (import "host" "elementwise" (func $hostElementwise (param i32 i32 i32 i32 i32) (result i32)))
  ;; The same for Adam over the regions' first `bytes` bytes ($adamRange's floats follow).
  (import "host" "adam" (func $hostAdam (param i32 f32 f32 f32 f32 f32 f32) (result i32)))
  ;; The host's split of a whole pass by towers, each group of towers on a thread of its own: the forward
  ;; pass (pass 0: rows) or the backward pass (pass 1: rows, paramGrads) over table ranges, by
  ;; `forward_layers` and `backward_layers`; returns 1 when done, 0 when this kernel should run the pass.
  (import "host" "towers" (func $hostTowers (param i32 i32 i32) (result i32)))
  ;; 32768 pages: 2 GiB at most, reserved (not committed) up front as shared memories are.
  (import "env" "memory" (memory 1 32768 shared))

  ;; Header fields (byte offsets from 0).
  (global $H_LAYERS i32 (i32.const 0))        ;; number of layers
  (global $H_TABLE i32 (i32.const 4))         ;; the layer table
  (global $H_POLICY i32 (i32.const 8))        ;; the layer whose output is the policy's (logits or mean), or Q's
                                              ;; (dueling: the advantages)
  (global $H_VALUE i32 (i32.const 12))        ;; the layer whose output column 0 is V(s); -1: none (plain Q)
  (global $H_HEAD i32 (i32.const 16))         ;; PPO: 0 categorical, 1 diagonal Gaussian
  (global $H_OUTPUTS i32 (i32.const 20))      ;; classes (or Q's actions), or the Gaussian's dimension
  (global $H_ACTION_DIM i32 (i32.const 24))   ;; floats per action row
  (global $H_ACTIONS i32 (i32.const 28))      ;; f32 [rows][actionDim] (class indices as floats)
  (global $H_OLD_LOGP i32 (i32.const 32))     ;; f32 [rows]
  (global $H_OLD_VALUES i32 (i32.const 36))   ;; f32 [rows]
  (global $H_ADVANTAGES i32 (i32.const 40))   ;; f32 [rows]
  (global $H_RETURNS i32 (i32.const 44))      ;; f32 [rows]
  (global $H_PARAMS i32 (i32.const 48))
  (global $H_GRADS i32 (i32.const 52))
  (global $H_M i32 (i32.const 56))
  (global $H_V i32 (i32.const 60))
  (global $H_SIZE i32 (i32.const 64))         ;; floats in each of the four regions, a multiple of 4
  (global $H_LOG_STD i32 (i32.const 68))      ;; offset of the log-std in each region (Gaussian)
  (global $H_METRICS i32 (i32.const 72))      ;; f64 [5]: policy_loss, vf_loss, entropy, mean_kl, clip_fraction
  (global $H_ZERO i32 (i32.const 76))         ;; zeros, as wide as the widest row a product writes
  (global $H_SCRATCH i32 (i32.const 80))      ;; f64 [outputs]: the Gaussian's 1 / std
  (global $H_TARGETS i32 (i32.const 84))      ;; TD: f32 [rows], the bootstrapped targets
  (global $H_WEIGHTS i32 (i32.const 88))      ;; TD: f32 [rows], importance weights
  (global $H_TD_ERRORS i32 (i32.const 92))    ;; TD: f32 [rows], Q(s, a) - target, written
  (global $H_HOST_MIN i32 (i32.const 96))     ;; products of at least this many multiply-adds go to
                                              ;; $hostGemm first; 0: none do
  (global $H_SPLIT_MIN i32 (i32.const 100))   ;; elementwise loops of at least this many bytes go to the
                                              ;; host first; 0: none do

  ;; Layer table fields (byte offsets within a 64-byte entry).
  (global $L_IN i32 (i32.const 0))            ;; the input rows X
  (global $L_IN_STRIDE i32 (i32.const 4))     ;; bytes between input rows
  (global $L_IN_DIM i32 (i32.const 8))
  (global $L_W i32 (i32.const 12))            ;; offset of the kernel in each region
  (global $L_B i32 (i32.const 16))            ;; offset of the bias in each region
  (global $L_Y i32 (i32.const 20))
  (global $L_D i32 (i32.const 24))
  (global $L_STRIDE i32 (i32.const 28))       ;; bytes per padded output row (kernel, Y and D rows)
  (global $L_ACTIVATION i32 (i32.const 32))   ;; 0 linear, 1 tanh, 2 relu
  (global $L_D_IN i32 (i32.const 36))         ;; where dLoss/dX goes: the input's D, 0 for a layer on
                                              ;; the observation
  (global $L_D_IN_STRIDE i32 (i32.const 40))  ;; bytes per row there
  (global $L_W_T i32 (i32.const 44))          ;; scratch for the transposed kernel [outDim][dInStride / 4]
  (global $L_OUT_DIM i32 (i32.const 48))
  (global $L_INPUT_GRADIENT i32 (i32.const 52)) ;; a layer on the observation: where an input-gradient pass
                                              ;; (paramGrads 0) writes dLoss/dX (its tower's rows, which
                                              ;; the host sums), 0 for none
  (global $L_D_IN_ADDS i32 (i32.const 56))    ;; 1: dX adds into the input's D (another reader of the input
                                              ;; wrote it first); 0: dX writes it (the input's last reader
                                              ;; in table order, the first in the backward pass)
  (global $L_READ i32 (i32.const 60))         ;; 1: another layer reads this one's outputs, so its D is
                                              ;; written by that layer's dX and needs no clearing
  (global $LAYER_BYTES i32 (i32.const 64))

  (func $header (param $field i32) (result i32) (i32.load (local.get $field)))
  (func $field (param $layer i32) (param $field i32) (result i32)
    (i32.load (i32.add (local.get $layer) (local.get $field))))

  ;; ---------------------------------------------------------------------------------------------------
  ;; Matrix products.

  ;; 4 rows of C, 8 columns per step: C[r][n] = Init[r][n] + sum_k A(r, k) B[k][n] for r in 0..3, where
  ;; A(r, k) is the float at a + r aRow + k aCol, Init row r at init + r initRow (initRow 0: every row
  ;; starts from the same vector, a bias or zeros), and B, C rows `stride` bytes apart.
  (func $gemm4
    (param $a i32) (param $aRow i32) (param $aCol i32) (param $k i32)
    (param $b i32) (param $stride i32) (param $c i32) (param $init i32) (param $initRow i32)
    (local $column i32) (local $left i32) (local $w i32) (local $p i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128)
    (local $a2 v128) (local $b2 v128) (local $a3 v128) (local $b3 v128)
    (local $wa v128) (local $wb v128) (local $s v128)
    (local.set $column (i32.const 0))
    (loop $columns
      (local.set $p (i32.add (local.get $init) (local.get $column)))
      (local.set $a0 (v128.load (local.get $p)))
      (local.set $b0 (v128.load offset=16 (local.get $p)))
      (local.set $p (i32.add (local.get $p) (local.get $initRow)))
      (local.set $a1 (v128.load (local.get $p)))
      (local.set $b1 (v128.load offset=16 (local.get $p)))
      (local.set $p (i32.add (local.get $p) (local.get $initRow)))
      (local.set $a2 (v128.load (local.get $p)))
      (local.set $b2 (v128.load offset=16 (local.get $p)))
      (local.set $p (i32.add (local.get $p) (local.get $initRow)))
      (local.set $a3 (v128.load (local.get $p)))
      (local.set $b3 (v128.load offset=16 (local.get $p)))
      (local.set $w (i32.add (local.get $b) (local.get $column)))
      (local.set $x0 (local.get $a))
      (local.set $x1 (i32.add (local.get $x0) (local.get $aRow)))
      (local.set $x2 (i32.add (local.get $x1) (local.get $aRow)))
      (local.set $x3 (i32.add (local.get $x2) (local.get $aRow)))
      (local.set $left (local.get $k))
      (loop $inner
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
        (local.set $x0 (i32.add (local.get $x0) (local.get $aCol)))
        (local.set $x1 (i32.add (local.get $x1) (local.get $aCol)))
        (local.set $x2 (i32.add (local.get $x2) (local.get $aCol)))
        (local.set $x3 (i32.add (local.get $x3) (local.get $aCol)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (br_if $inner (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))
      (local.set $p (i32.add (local.get $c) (local.get $column)))
      (v128.store (local.get $p) (local.get $a0))
      (v128.store offset=16 (local.get $p) (local.get $b0))
      (local.set $p (i32.add (local.get $p) (local.get $stride)))
      (v128.store (local.get $p) (local.get $a1))
      (v128.store offset=16 (local.get $p) (local.get $b1))
      (local.set $p (i32.add (local.get $p) (local.get $stride)))
      (v128.store (local.get $p) (local.get $a2))
      (v128.store offset=16 (local.get $p) (local.get $b2))
      (local.set $p (i32.add (local.get $p) (local.get $stride)))
      (v128.store (local.get $p) (local.get $a3))
      (v128.store offset=16 (local.get $p) (local.get $b3))
      (br_if $columns
        (i32.lt_u (local.tee $column (i32.add (local.get $column) (i32.const 32))) (local.get $stride)))))

  ;; One row of C, 8 columns per step (the rows $gemm4 leaves).
  (func $gemm1
    (param $a i32) (param $aCol i32) (param $k i32)
    (param $b i32) (param $stride i32) (param $c i32) (param $init i32)
    (local $column i32) (local $left i32) (local $w i32) (local $x i32)
    (local $acc0 v128) (local $acc1 v128) (local $s v128)
    (local.set $column (i32.const 0))
    (loop $columns
      (local.set $acc0 (v128.load (i32.add (local.get $init) (local.get $column))))
      (local.set $acc1 (v128.load offset=16 (i32.add (local.get $init) (local.get $column))))
      (local.set $w (i32.add (local.get $b) (local.get $column)))
      (local.set $x (local.get $a))
      (local.set $left (local.get $k))
      (loop $inner
        (local.set $s (v128.load32_splat (local.get $x)))
        (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $s) (v128.load (local.get $w)))))
        (local.set $acc1
          (f32x4.add (local.get $acc1) (f32x4.mul (local.get $s) (v128.load offset=16 (local.get $w)))))
        (local.set $x (i32.add (local.get $x) (local.get $aCol)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (br_if $inner (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))
      (v128.store (i32.add (local.get $c) (local.get $column)) (local.get $acc0))
      (v128.store offset=16 (i32.add (local.get $c) (local.get $column)) (local.get $acc1))
      (br_if $columns
        (i32.lt_u (local.tee $column (i32.add (local.get $column) (i32.const 32))) (local.get $stride)))))

  ;; C = Init + A B for `m` rows of C (`k` >= 1): a large product goes to the host when it takes it,
  ;; the rest to $gemmRows.
  (func $gemm
    (param $a i32) (param $aRow i32) (param $aCol i32) (param $k i32)
    (param $b i32) (param $stride i32) (param $c i32) (param $m i32) (param $init i32) (param $initRow i32)
    (local $hostMin i32)
    (local.set $hostMin (call $header (global.get $H_HOST_MIN)))
    (if (i32.and
          (i32.ne (local.get $hostMin) (i32.const 0))
          (i64.ge_u
            (i64.mul (i64.mul (i64.extend_i32_u (local.get $m)) (i64.extend_i32_u (local.get $k)))
              (i64.extend_i32_u (i32.shr_u (local.get $stride) (i32.const 2))))
            (i64.extend_i32_u (local.get $hostMin))))
      (then
        (if (call $hostGemm (local.get $a) (local.get $aRow) (local.get $aCol) (local.get $k) (local.get $b)
              (local.get $stride) (local.get $c) (local.get $m) (local.get $init) (local.get $initRow))
          (then (return)))))
    (call $gemmRows (local.get $a) (local.get $aRow) (local.get $aCol) (local.get $k) (local.get $b)
      (local.get $stride) (local.get $c) (local.get $m) (local.get $init) (local.get $initRow)))

  ;; C = Init + A B in this thread, four rows at a time, then one at a time. A row's result does not
  ;; depend on which of the two computes it, so any split of the rows gives the same C.
  (func $gemmRows (export "gemm_rows")
    (param $a i32) (param $aRow i32) (param $aCol i32) (param $k i32)
    (param $b i32) (param $stride i32) (param $c i32) (param $m i32) (param $init i32) (param $initRow i32)
    (block $done4
      (loop $rows4
        (br_if $done4 (i32.lt_u (local.get $m) (i32.const 4)))
        (call $gemm4 (local.get $a) (local.get $aRow) (local.get $aCol) (local.get $k)
          (local.get $b) (local.get $stride) (local.get $c) (local.get $init) (local.get $initRow))
        (local.set $a (i32.add (local.get $a) (i32.shl (local.get $aRow) (i32.const 2))))
        (local.set $c (i32.add (local.get $c) (i32.shl (local.get $stride) (i32.const 2))))
        (local.set $init (i32.add (local.get $init) (i32.shl (local.get $initRow) (i32.const 2))))
        (local.set $m (i32.sub (local.get $m) (i32.const 4)))
        (br $rows4)))
    (block $done1
      (loop $rows1
        (br_if $done1 (i32.eqz (local.get $m)))
        (call $gemm1 (local.get $a) (local.get $aCol) (local.get $k)
          (local.get $b) (local.get $stride) (local.get $c) (local.get $init))
        (local.set $a (i32.add (local.get $a) (local.get $aRow)))
        (local.set $c (i32.add (local.get $c) (local.get $stride)))
        (local.set $init (i32.add (local.get $init) (local.get $initRow)))
        (local.set $m (i32.sub (local.get $m) (i32.const 1)))
        (br $rows1))))

  ;; out[o][i] = w[i][o] for i < inDim, o < outDim (w's rows `stride` bytes apart, out's `outStride`):
  ;; 4x4 blocks in SIMD registers where both fit, one float at a time at the edges (nothing written
  ;; beyond inDim or outDim: out's padding stays zero).
  (func $transpose
    (param $w i32) (param $stride i32) (param $inDim i32) (param $outDim i32) (param $out i32) (param $outStride i32)
    (local $inBlocks i32) (local $outBlocks i32)
    (local.set $inBlocks (i32.and (local.get $inDim) (i32.const -4)))
    (local.set $outBlocks (i32.and (local.get $outDim) (i32.const -4)))
    (call $transpose4 (local.get $w) (local.get $stride) (local.get $inBlocks) (local.get $outBlocks)
      (local.get $out) (local.get $outStride))
    ;; the last inDim % 4 rows of w, every column; then the last outDim % 4 columns of the rows above
    (call $transpose1 (local.get $w) (local.get $stride) (local.get $inBlocks) (local.get $inDim)
      (i32.const 0) (local.get $outDim) (local.get $out) (local.get $outStride))
    (call $transpose1 (local.get $w) (local.get $stride) (i32.const 0) (local.get $inBlocks)
      (local.get $outBlocks) (local.get $outDim) (local.get $out) (local.get $outStride)))

  ;; The transpose of w's first `rows` rows and `columns` columns (multiples of 4), a 4x4 block at a time:
  ;; four rows' four floats in, interleaved by shuffles into four columns, out.
  (func $transpose4
    (param $w i32) (param $stride i32) (param $rows i32) (param $columns i32) (param $out i32) (param $outStride i32)
    (local $i i32) (local $o i32) (local $p i32) (local $q i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (if (i32.or (i32.eqz (local.get $rows)) (i32.eqz (local.get $columns))) (then (return)))
    (local.set $i (i32.const 0))
    (loop $rowBlocks
      (local.set $o (i32.const 0))
      (loop $columnBlocks
        (local.set $p (i32.add (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $stride)))
          (i32.shl (local.get $o) (i32.const 2))))
        (local.set $r0 (v128.load (local.get $p)))
        (local.set $r1 (v128.load (local.tee $p (i32.add (local.get $p) (local.get $stride)))))
        (local.set $r2 (v128.load (local.tee $p (i32.add (local.get $p) (local.get $stride)))))
        (local.set $r3 (v128.load (i32.add (local.get $p) (local.get $stride))))
        ;; t0 = r0.0 r1.0 r0.1 r1.1, t1 = r0.2 r1.2 r0.3 r1.3, t2 and t3 the same of r2, r3
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
        (local.set $q (i32.add (i32.add (local.get $out) (i32.mul (local.get $o) (local.get $outStride)))
          (i32.shl (local.get $i) (i32.const 2))))
        (v128.store (local.get $q)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store (local.tee $q (i32.add (local.get $q) (local.get $outStride)))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store (local.tee $q (i32.add (local.get $q) (local.get $outStride)))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store (i32.add (local.get $q) (local.get $outStride))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (br_if $columnBlocks (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 4))) (local.get $columns))))
      (br_if $rowBlocks (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $rows)))))

  ;; out[o][i] = w[i][o] one float at a time, for i0 <= i < i1, o0 <= o < o1.
  (func $transpose1
    (param $w i32) (param $stride i32) (param $i0 i32) (param $i1 i32) (param $o0 i32) (param $o1 i32)
    (param $out i32) (param $outStride i32)
    (local $i i32) (local $o i32)
    (if (i32.or (i32.ge_u (local.get $i0) (local.get $i1)) (i32.ge_u (local.get $o0) (local.get $o1)))
      (then (return)))
    (local.set $i (local.get $i0))
    (loop $rows
      (local.set $o (local.get $o0))
      (loop $columns
        (f32.store
          (i32.add (i32.add (local.get $out) (i32.mul (local.get $o) (local.get $outStride)))
            (i32.shl (local.get $i) (i32.const 2)))
          (f32.load
            (i32.add (i32.add (local.get $w) (i32.mul (local.get $i) (local.get $stride)))
              (i32.shl (local.get $o) (i32.const 2)))))
        (br_if $columns (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 1))) (local.get $o1))))
      (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $i1)))))

  ;; out[n] = sum over `rows` rows of d[r][n], 4 columns per step (the bias gradient).
  (func $columnSums (param $d i32) (param $stride i32) (param $rows i32) (param $out i32)
    (local $column i32) (local $p i32) (local $left i32) (local $sum v128)
    (local.set $column (i32.const 0))
    (loop $columns
      (local.set $sum (v128.const f32x4 0 0 0 0))
      (local.set $p (i32.add (local.get $d) (local.get $column)))
      (local.set $left (local.get $rows))
      (loop $down
        (local.set $sum (f32x4.add (local.get $sum) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (br_if $down (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))
      (v128.store (i32.add (local.get $out) (local.get $column)) (local.get $sum))
      (br_if $columns
        (i32.lt_u (local.tee $column (i32.add (local.get $column) (i32.const 16))) (local.get $stride)))))

  ;; ---------------------------------------------------------------------------------------------------
  ;; Activations, in place over `bytes` bytes from `p` (a multiple of 16).

  ;; Whether a loop over `bytes` bytes is long enough to offer the host.
  (func $splits (param $bytes i32) (result i32)
    (local $min i32)
    (local.set $min (call $header (global.get $H_SPLIT_MIN)))
    (i32.and (i32.ne (local.get $min) (i32.const 0)) (i32.ge_u (local.get $bytes) (local.get $min))))

  ;; Whether an activation loop over `bytes` bytes is long enough to offer the host: ReLU's and the
  ;; identity's are an instruction or two per 4 floats, tanh's about twenty, so they pay for a split only
  ;; on 16 times the bytes.
  (func $activationSplits (param $bytes i32) (param $activation i32) (result i32)
    (call $splits
      (select (local.get $bytes) (i32.shr_u (local.get $bytes) (i32.const 4))
        (i32.eq (local.get $activation) (i32.const 1)))))

  ;; $activate, or the host's split of it.
  (func $activateSplit (param $p i32) (param $bytes i32) (param $activation i32)
    (if (call $activationSplits (local.get $bytes) (local.get $activation))
      (then
        (if (call $hostElementwise (i32.const 0) (local.get $p) (i32.const 0) (local.get $bytes) (local.get $activation))
          (then (return)))))
    (call $activate (local.get $p) (local.get $bytes) (local.get $activation)))

  ;; $activateBackward, or the host's split of it.
  (func $activateBackwardSplit (param $d i32) (param $y i32) (param $bytes i32) (param $activation i32)
    (if (call $activationSplits (local.get $bytes) (local.get $activation))
      (then
        (if (call $hostElementwise (i32.const 1) (local.get $d) (local.get $y) (local.get $bytes) (local.get $activation))
          (then (return)))))
    (call $activateBackward (local.get $d) (local.get $y) (local.get $bytes) (local.get $activation)))

  ;; y = activation(y). tanh as dense.wat computes it: x P(x^2) / Q(x^2) on x clamped to [-10, 10]
  ;; (scripts/fit_tanh.py), within float32 rounding of Math.tanh. The coefficients are splatted into
  ;; registers once, before the loop: with them splatted once a vector, it took 2.2x as long.
  (func $activate (export "activate") (param $p i32) (param $bytes i32) (param $activation i32)
    (local $end i32) (local $c v128) (local $s v128) (local $poly v128) (local $q v128)
    (local $min v128) (local $max v128)
    ;; P's coefficients from x^0 up, Q's from x^2 up (Q(0) = 1)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $p4 v128) (local $p5 v128)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128)
    (local.set $end (i32.add (local.get $p) (local.get $bytes)))
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
        (loop $tanhLoop
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
          (br_if $tanhLoop (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $activation) (i32.const 2))
      (then
        (loop $reluLoop
          (v128.store (local.get $p) (f32x4.max (v128.load (local.get $p)) (v128.const f32x4 0 0 0 0)))
          (br_if $reluLoop (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))))

  ;; d = dLoss/dy -> dLoss/d(pre-activation), from the outputs y: tanh' = 1 - y^2, relu' = [y > 0].
  (func $activateBackward (export "activate_backward")
    (param $d i32) (param $y i32) (param $bytes i32) (param $activation i32)
    (local $end i32) (local $out v128)
    (local.set $end (i32.add (local.get $d) (local.get $bytes)))
    (if (i32.eq (local.get $activation) (i32.const 1))
      (then
        (loop $tanhLoop
          (local.set $out (v128.load (local.get $y)))
          (v128.store (local.get $d)
            (f32x4.mul (v128.load (local.get $d))
              (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $out) (local.get $out)))))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (br_if $tanhLoop (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $end))))))
    (if (i32.eq (local.get $activation) (i32.const 2))
      (then
        (loop $reluLoop
          (v128.store (local.get $d)
            (v128.and (v128.load (local.get $d))
              (f32x4.gt (v128.load (local.get $y)) (v128.const f32x4 0 0 0 0))))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (br_if $reluLoop (i32.lt_u (local.tee $d (i32.add (local.get $d) (i32.const 16))) (local.get $end)))))))

  ;; ---------------------------------------------------------------------------------------------------
  ;; The network's passes over the layer table.

  ;; Y = activation(X W + b) for every layer, in table order: by the host's threads tower by tower
  ;; when it takes the pass, here otherwise.
  (func $forward (param $rows i32)
    (local $first i32)
    (if (call $hostTowers (i32.const 0) (local.get $rows) (i32.const 0)) (then (return)))
    (local.set $first (call $header (global.get $H_TABLE)))
    (call $forwardLayers (local.get $rows) (local.get $first)
      (i32.add (local.get $first) (i32.mul (call $header (global.get $H_LAYERS)) (global.get $LAYER_BYTES)))))

  ;; The forward pass over the table's entries from `layer` up to `end` (byte offsets).
  (func $forwardLayers (export "forward_layers") (param $rows i32) (param $layer i32) (param $end i32)
    (local $params i32) (local $stride i32)
    (local.set $params (call $header (global.get $H_PARAMS)))
    (loop $layers
      (local.set $stride (call $field (local.get $layer) (global.get $L_STRIDE)))
      (call $gemm
        (call $field (local.get $layer) (global.get $L_IN)) (call $field (local.get $layer) (global.get $L_IN_STRIDE))
        (i32.const 4) (call $field (local.get $layer) (global.get $L_IN_DIM))
        (i32.add (local.get $params) (call $field (local.get $layer) (global.get $L_W))) (local.get $stride)
        (call $field (local.get $layer) (global.get $L_Y)) (local.get $rows)
        (i32.add (local.get $params) (call $field (local.get $layer) (global.get $L_B))) (i32.const 0))
      (call $activateSplit (call $field (local.get $layer) (global.get $L_Y)) (i32.mul (local.get $rows) (local.get $stride))
        (call $field (local.get $layer) (global.get $L_ACTIVATION)))
      (br_if $layers (i32.lt_u (local.tee $layer (i32.add (local.get $layer) (global.get $LAYER_BYTES))) (local.get $end)))))

  ;; The heads' D to zero (the layers no other reads: the loss writes into them); the other layers' D
  ;; are written whole by their first reader's dX.
  (func $clearOutputGradients (export "clear_output_gradients") (param $rows i32)
    (local $layer i32) (local $end i32)
    (local.set $layer (call $header (global.get $H_TABLE)))
    (local.set $end
      (i32.add (local.get $layer) (i32.mul (call $header (global.get $H_LAYERS)) (global.get $LAYER_BYTES))))
    (loop $layers
      (if (i32.eqz (call $field (local.get $layer) (global.get $L_READ)))
        (then
          (memory.fill (call $field (local.get $layer) (global.get $L_D)) (i32.const 0)
            (i32.mul (local.get $rows) (call $field (local.get $layer) (global.get $L_STRIDE))))))
      (br_if $layers (i32.lt_u (local.tee $layer (i32.add (local.get $layer) (global.get $LAYER_BYTES))) (local.get $end)))))

  ;; From the last layer to the first: D to dLoss/d(pre-activation), dW = X^T D and db = column sums of D
  ;; (paramGrads 1; 0 skips them: an input gradient alone), and dX = D W^T into the input's D, added to it
  ;; when another reader of the input wrote it first (for a layer on the observation, in an
  ;; input-gradient pass, into its tower's input gradient when the table names one). By the host's
  ;; threads tower by tower when it takes the pass, here otherwise.
  (func $backward (export "backward") (param $rows i32) (param $paramGrads i32)
    (local $first i32)
    (if (call $hostTowers (i32.const 1) (local.get $rows) (local.get $paramGrads)) (then (return)))
    (local.set $first (call $header (global.get $H_TABLE)))
    (call $backwardLayers (local.get $rows) (local.get $paramGrads) (local.get $first)
      (i32.add (local.get $first)
        (i32.mul (i32.sub (call $header (global.get $H_LAYERS)) (i32.const 1)) (global.get $LAYER_BYTES)))))

  ;; The backward pass over the table's entries from `layer` down to `first` (byte offsets).
  (func $backwardLayers (export "backward_layers")
    (param $rows i32) (param $paramGrads i32) (param $first i32) (param $layer i32)
    (local $params i32) (local $grads i32)
    (local $stride i32) (local $d i32) (local $dIn i32) (local $dInStride i32) (local $adds i32)
    (local.set $params (call $header (global.get $H_PARAMS)))
    (local.set $grads (call $header (global.get $H_GRADS)))
    (loop $layers
      (local.set $stride (call $field (local.get $layer) (global.get $L_STRIDE)))
      (local.set $d (call $field (local.get $layer) (global.get $L_D)))
      (call $activateBackwardSplit (local.get $d) (call $field (local.get $layer) (global.get $L_Y))
        (i32.mul (local.get $rows) (local.get $stride)) (call $field (local.get $layer) (global.get $L_ACTIVATION)))
      (if (local.get $paramGrads)
        (then
          ;; dW[i][o] = sum_r X[r][i] D[r][o]: A(i, r) = X[r][i], rows of A 4 bytes apart, columns a row apart.
          (call $gemm
            (call $field (local.get $layer) (global.get $L_IN)) (i32.const 4)
            (call $field (local.get $layer) (global.get $L_IN_STRIDE)) (local.get $rows)
            (local.get $d) (local.get $stride)
            (i32.add (local.get $grads) (call $field (local.get $layer) (global.get $L_W)))
            (call $field (local.get $layer) (global.get $L_IN_DIM))
            (call $header (global.get $H_ZERO)) (i32.const 0))
          (call $columnSums (local.get $d) (local.get $stride) (local.get $rows)
            (i32.add (local.get $grads) (call $field (local.get $layer) (global.get $L_B))))))
      (local.set $dIn (call $field (local.get $layer) (global.get $L_D_IN)))
      (local.set $adds (call $field (local.get $layer) (global.get $L_D_IN_ADDS)))
      (if (i32.eqz (local.get $dIn))
        (then
          ;; A layer on the observation: into its tower's input gradient, in an input-gradient pass.
          (local.set $adds (i32.const 0))
          (if (i32.eqz (local.get $paramGrads))
            (then (local.set $dIn (call $field (local.get $layer) (global.get $L_INPUT_GRADIENT)))))))
      (if (local.get $dIn)
        (then
          (local.set $dInStride (call $field (local.get $layer) (global.get $L_D_IN_STRIDE)))
          (call $transpose
            (i32.add (local.get $params) (call $field (local.get $layer) (global.get $L_W))) (local.get $stride)
            (call $field (local.get $layer) (global.get $L_IN_DIM)) (call $field (local.get $layer) (global.get $L_OUT_DIM))
            (call $field (local.get $layer) (global.get $L_W_T)) (local.get $dInStride))
          ;; dX[r][i] (+)= sum_o D[r][o] W^T[o][i]
          (call $gemm
            (local.get $d) (local.get $stride) (i32.const 4) (call $field (local.get $layer) (global.get $L_OUT_DIM))
            (call $field (local.get $layer) (global.get $L_W_T)) (local.get $dInStride)
            (local.get $dIn) (local.get $rows)
            (select (local.get $dIn) (call $header (global.get $H_ZERO)) (local.get $adds))
            (select (local.get $dInStride) (i32.const 0) (local.get $adds)))))
      (if (i32.gt_u (local.get $layer) (local.get $first))
        (then
          (local.set $layer (i32.sub (local.get $layer) (global.get $LAYER_BYTES)))
          (br $layers)))))

  ;; ---------------------------------------------------------------------------------------------------
  ;; PPO's loss (src/algos/ppo/loss.ts) and its gradient w.r.t. the policy output and the values, row by
  ;; row in float64.

  ;; A categorical over the logits z (n of them) at `z`: writes p_j = softmax(z)_j into `out` and returns
  ;; log p(action), the entropy H = -sum p_j log p_j and the shift log p_j = z_j - shift.
  (func $categoricalForward (param $z i32) (param $n i32) (param $action i32) (param $out i32)
    (result f64 f64 f64)
    (local $j i32) (local $max f64) (local $sum f64) (local $shift f64) (local $l f64) (local $p f64)
    (local $entropy f64)
    (local.set $max (f64.promote_f32 (f32.load (local.get $z))))
    (local.set $j (i32.const 1))
    (block $done
      (loop $maxLoop
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $max
          (f64.max (local.get $max) (f64.promote_f32 (f32.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $maxLoop)))
    (local.set $sum (f64.const 0))
    (local.set $j (i32.const 0))
    (loop $sumLoop
      (local.set $sum
        (f64.add (local.get $sum)
          (call $exp (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))))
            (local.get $max)))))
      (br_if $sumLoop (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
    (local.set $shift (f64.add (local.get $max) (call $log (local.get $sum))))
    (local.set $entropy (f64.const 0))
    (local.set $j (i32.const 0))
    (loop $probLoop
      (local.set $l
        (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))))
          (local.get $shift)))
      (local.set $p (call $exp (local.get $l)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (local.get $p)))
      (local.set $entropy (f64.sub (local.get $entropy) (f64.mul (local.get $p) (local.get $l))))
      (br_if $probLoop (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
    (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $z) (i32.shl (local.get $action) (i32.const 2)))))
      (local.get $shift))
    (local.get $entropy)
    (local.get $shift))

  ;; dLoss/dz_j = dLogp (onehot_j - p_j) - dEntropy p_j (log p_j + H), over the p_j `out` holds (and
  ;; overwrites): dlogp(a)/dz = onehot(a) - p, dH/dz = -p (log p + H).
  (func $categoricalBackward
    (param $z i32) (param $n i32) (param $action i32) (param $out i32)
    (param $dLogp f64) (param $dEntropy f64) (param $entropy f64) (param $shift f64)
    (local $j i32) (local $p f64) (local $l f64) (local $grad f64)
    (local.set $j (i32.const 0))
    (loop $columns
      (local.set $p (f64.promote_f32 (f32.load (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))))))
      (local.set $l
        (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 2)))))
          (local.get $shift)))
      (local.set $grad
        (f64.sub
          (f64.mul (local.get $dLogp)
            (f64.sub (select (f64.const 1) (f64.const 0) (i32.eq (local.get $j) (local.get $action))) (local.get $p)))
          (f64.mul (local.get $dEntropy) (f64.mul (local.get $p) (f64.add (local.get $l) (local.get $entropy))))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (local.get $grad)))
      (br_if $columns (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n)))))

  ;; A diagonal Gaussian with mean at `mean` (n of them), the log-std at `logStd` and 1 / std (f64) at
  ;; `invStd`: log N(a; mean, std) = -sum z^2 / 2 - sum logStd - n log(2 pi) / 2, z = (a - mean) / std.
  (func $gaussianLogp (param $mean i32) (param $n i32) (param $actions i32) (param $logStd i32) (param $invStd i32)
    (result f64)
    (local $j i32) (local $z f64) (local $sum f64)
    (local.set $sum (f64.const 0))
    (local.set $j (i32.const 0))
    (loop $columns
      (local.set $z (call $gaussianZ (local.get $mean) (local.get $actions) (local.get $invStd) (local.get $j)))
      (local.set $sum
        (f64.add (local.get $sum)
          (f64.add (f64.mul (f64.const 0.5) (f64.mul (local.get $z) (local.get $z)))
            (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $logStd) (i32.shl (local.get $j) (i32.const 2)))))
              (f64.const 0.9189385332046727)))))  ;; log(2 pi) / 2
      (br_if $columns (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
    (f64.neg (local.get $sum)))

  (func $gaussianZ (param $mean i32) (param $actions i32) (param $invStd i32) (param $j i32) (result f64)
    (f64.mul
      (f64.sub
        (f64.promote_f32 (f32.load (i32.add (local.get $actions) (i32.shl (local.get $j) (i32.const 2)))))
        (f64.promote_f32 (f32.load (i32.add (local.get $mean) (i32.shl (local.get $j) (i32.const 2))))))
      (f64.load (i32.add (local.get $invStd) (i32.shl (local.get $j) (i32.const 3))))))

  ;; dLoss/dmean_j = dLogp z_j / std_j into `out`; dLoss/dlogStd_j += dLogp (z_j^2 - 1) (the entropy's
  ;; part, the same for every row, is added once by the caller).
  (func $gaussianBackward
    (param $mean i32) (param $n i32) (param $actions i32) (param $invStd i32) (param $out i32) (param $gLogStd i32)
    (param $dLogp f64)
    (local $j i32) (local $z f64) (local $p i32)
    (local.set $j (i32.const 0))
    (loop $columns
      (local.set $z (call $gaussianZ (local.get $mean) (local.get $actions) (local.get $invStd) (local.get $j)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
        (f32.demote_f64
          (f64.mul (f64.mul (local.get $dLogp) (local.get $z))
            (f64.load (i32.add (local.get $invStd) (i32.shl (local.get $j) (i32.const 3)))))))
      (local.set $p (i32.add (local.get $gLogStd) (i32.shl (local.get $j) (i32.const 2))))
      (f32.store (local.get $p)
        (f32.add (f32.load (local.get $p))
          (f32.demote_f64 (f64.mul (local.get $dLogp) (f64.sub (f64.mul (local.get $z) (local.get $z)) (f64.const 1))))))
      (br_if $columns (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n)))))

  (func $clamp (param $x f64) (param $low f64) (param $high f64) (result f64)
    (f64.min (f64.max (local.get $x) (local.get $low)) (local.get $high)))

  (func $rowF32 (param $field i32) (param $r i32) (result f64)
    (f64.promote_f32 (f32.load (i32.add (call $header (local.get $field)) (i32.shl (local.get $r) (i32.const 2))))))

  ;; The loss over `rows` rows: writes dLoss/d(policy output) into the policy layer's D, dLoss/dV into
  ;; column 0 of the value layer's D, dLoss/dlogStd (Gaussian) into the gradient region, and the five
  ;; metrics' means. vfClip < 0: no value clipping.
  (func $ppoLoss (param $rows i32) (param $clip f64) (param $vfClip f64) (param $vfCoeff f64) (param $entCoeff f64)
    (local $r i32) (local $j i32) (local $n i32) (local $gaussian i32) (local $actionDim i32)
    (local $policy i32) (local $value i32) (local $z i32) (local $dz i32) (local $actions i32)
    (local $logStd i32) (local $gLogStd i32) (local $invStd i32) (local $metrics i32)
    (local $invRows f64) (local $logp f64) (local $entropy f64) (local $shift f64)
    (local $logRatio f64) (local $ratio f64) (local $advantage f64) (local $unclipped f64) (local $clipped f64)
    (local $dLogp f64) (local $v f64) (local $oldV f64) (local $ret f64) (local $error f64) (local $squared f64)
    (local $change f64) (local $errorClipped f64) (local $squaredClipped f64) (local $dSquared f64)
    (local $sumPolicy f64) (local $sumVf f64) (local $sumEntropy f64) (local $sumKl f64) (local $sumClipped f64)
    (local $gaussianEntropy f64)
    (local.set $invRows (f64.div (f64.const 1) (f64.convert_i32_u (local.get $rows))))
    (local.set $n (call $header (global.get $H_OUTPUTS)))
    (local.set $gaussian (i32.eq (call $header (global.get $H_HEAD)) (i32.const 1)))
    (local.set $actionDim (call $header (global.get $H_ACTION_DIM)))
    (local.set $policy
      (i32.add (call $header (global.get $H_TABLE)) (i32.mul (call $header (global.get $H_POLICY)) (global.get $LAYER_BYTES))))
    (local.set $value
      (i32.add (call $header (global.get $H_TABLE)) (i32.mul (call $header (global.get $H_VALUE)) (global.get $LAYER_BYTES))))
    (local.set $metrics (call $header (global.get $H_METRICS)))
    (if (local.get $gaussian)
      (then
        ;; 1 / std per dimension, the log-std's gradient to zero, the entropy sum logStd + n (1 + log 2 pi) / 2.
        (local.set $logStd (i32.add (call $header (global.get $H_PARAMS)) (call $header (global.get $H_LOG_STD))))
        (local.set $gLogStd (i32.add (call $header (global.get $H_GRADS)) (call $header (global.get $H_LOG_STD))))
        (local.set $invStd (call $header (global.get $H_SCRATCH)))
        (local.set $gaussianEntropy (f64.const 0))
        (local.set $j (i32.const 0))
        (loop $dims
          (local.set $shift (f64.promote_f32 (f32.load (i32.add (local.get $logStd) (i32.shl (local.get $j) (i32.const 2))))))
          (f64.store (i32.add (local.get $invStd) (i32.shl (local.get $j) (i32.const 3))) (call $exp (f64.neg (local.get $shift))))
          (f32.store (i32.add (local.get $gLogStd) (i32.shl (local.get $j) (i32.const 2))) (f32.const 0))
          (local.set $gaussianEntropy
            (f64.add (local.get $gaussianEntropy) (f64.add (local.get $shift) (f64.const 1.4189385332046727))))
          (br_if $dims (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))))
    (local.set $r (i32.const 0))
    (loop $rowLoop
      (local.set $z
        (i32.add (call $field (local.get $policy) (global.get $L_Y))
          (i32.mul (local.get $r) (call $field (local.get $policy) (global.get $L_STRIDE)))))
      (local.set $dz
        (i32.add (call $field (local.get $policy) (global.get $L_D))
          (i32.mul (local.get $r) (call $field (local.get $policy) (global.get $L_STRIDE)))))
      (local.set $actions
        (i32.add (call $header (global.get $H_ACTIONS)) (i32.shl (i32.mul (local.get $r) (local.get $actionDim)) (i32.const 2))))
      ;; log pi(a|s) and the entropy.
      (if (local.get $gaussian)
        (then
          (local.set $logp (call $gaussianLogp (local.get $z) (local.get $n) (local.get $actions) (local.get $logStd) (local.get $invStd)))
          (local.set $entropy (local.get $gaussianEntropy)))
        (else
          (call $categoricalForward (local.get $z) (local.get $n) (i32.trunc_f32_s (f32.load (local.get $actions))) (local.get $dz))
          (local.set $shift)
          (local.set $entropy)
          (local.set $logp)))
      ;; The clipped surrogate: its gradient w.r.t. logp is ratio A / rows where the unclipped term is the
      ;; minimum (ties included), 0 where the clipped one is.
      (local.set $logRatio (f64.sub (local.get $logp) (call $rowF32 (global.get $H_OLD_LOGP) (local.get $r))))
      (local.set $ratio (call $exp (local.get $logRatio)))
      (local.set $advantage (call $rowF32 (global.get $H_ADVANTAGES) (local.get $r)))
      (local.set $unclipped (f64.mul (local.get $ratio) (local.get $advantage)))
      (local.set $clipped
        (f64.mul
          (call $clamp (local.get $ratio) (f64.sub (f64.const 1) (local.get $clip)) (f64.add (f64.const 1) (local.get $clip)))
          (local.get $advantage)))
      (local.set $dLogp
        (select (f64.mul (local.get $unclipped) (f64.neg (local.get $invRows))) (f64.const 0)
          (f64.le (local.get $unclipped) (local.get $clipped))))
      (local.set $sumPolicy (f64.sub (local.get $sumPolicy) (f64.min (local.get $unclipped) (local.get $clipped))))
      (local.set $sumEntropy (f64.add (local.get $sumEntropy) (local.get $entropy)))
      (local.set $sumKl
        (f64.add (local.get $sumKl) (f64.sub (f64.sub (local.get $ratio) (f64.const 1)) (local.get $logRatio))))
      (if (f64.gt (f64.abs (f64.sub (local.get $ratio) (f64.const 1))) (local.get $clip))
        (then (local.set $sumClipped (f64.add (local.get $sumClipped) (f64.const 1)))))
      (if (local.get $gaussian)
        (then
          (call $gaussianBackward (local.get $z) (local.get $n) (local.get $actions) (local.get $invStd) (local.get $dz)
            (local.get $gLogStd) (local.get $dLogp)))
        (else
          (call $categoricalBackward (local.get $z) (local.get $n) (i32.trunc_f32_s (f32.load (local.get $actions))) (local.get $dz)
            (local.get $dLogp) (f64.mul (local.get $entCoeff) (f64.neg (local.get $invRows))) (local.get $entropy) (local.get $shift))))
      ;; The value: d/dV of (V - R)^2 / 2 is V - R; with clipping the larger squared error passes its
      ;; gradient (ties: the unclipped), the clipped one only where V - oldV lies within the clip range.
      (local.set $v
        (f64.promote_f32
          (f32.load
            (i32.add (call $field (local.get $value) (global.get $L_Y))
              (i32.mul (local.get $r) (call $field (local.get $value) (global.get $L_STRIDE)))))))
      (local.set $ret (call $rowF32 (global.get $H_RETURNS) (local.get $r)))
      (local.set $error (f64.sub (local.get $v) (local.get $ret)))
      (local.set $squared (f64.mul (local.get $error) (local.get $error)))
      (local.set $dSquared (local.get $error))
      (if (f64.ge (local.get $vfClip) (f64.const 0))
        (then
          (local.set $oldV (call $rowF32 (global.get $H_OLD_VALUES) (local.get $r)))
          (local.set $change (f64.sub (local.get $v) (local.get $oldV)))
          (local.set $errorClipped
            (f64.sub
              (f64.add (local.get $oldV) (call $clamp (local.get $change) (f64.neg (local.get $vfClip)) (local.get $vfClip)))
              (local.get $ret)))
          (local.set $squaredClipped (f64.mul (local.get $errorClipped) (local.get $errorClipped)))
          (if (f64.lt (local.get $squared) (local.get $squaredClipped))
            (then
              (local.set $dSquared
                (select (local.get $errorClipped) (f64.const 0)
                  (f64.le (f64.abs (local.get $change)) (local.get $vfClip))))
              (local.set $squared (local.get $squaredClipped))))))
      (local.set $sumVf (f64.add (local.get $sumVf) (f64.mul (f64.const 0.5) (local.get $squared))))
      (f32.store
        (i32.add (call $field (local.get $value) (global.get $L_D))
          (i32.mul (local.get $r) (call $field (local.get $value) (global.get $L_STRIDE))))
        (f32.demote_f64 (f64.mul (local.get $dSquared) (f64.mul (local.get $vfCoeff) (local.get $invRows)))))
      (br_if $rowLoop (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rows))))
    (if (local.get $gaussian)
      (then
        ;; The entropy bonus -entCoeff mean(H) has dLoss/dlogStd_j = -entCoeff.
        (local.set $j (i32.const 0))
        (loop $dims
          (local.set $z (i32.add (local.get $gLogStd) (i32.shl (local.get $j) (i32.const 2))))
          (f32.store (local.get $z) (f32.sub (f32.load (local.get $z)) (f32.demote_f64 (local.get $entCoeff))))
          (br_if $dims (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))))
    (f64.store offset=0 (local.get $metrics) (f64.mul (local.get $sumPolicy) (local.get $invRows)))
    (f64.store offset=8 (local.get $metrics) (f64.mul (local.get $sumVf) (local.get $invRows)))
    (f64.store offset=16 (local.get $metrics) (f64.mul (local.get $sumEntropy) (local.get $invRows)))
    (f64.store offset=24 (local.get $metrics) (f64.mul (local.get $sumKl) (local.get $invRows)))
    (f64.store offset=32 (local.get $metrics) (f64.mul (local.get $sumClipped) (local.get $invRows))))

    ;; ---------------------------------------------------------------------------------------------------
  ;; DQN's TD loss (src/algos/dqn/loss.ts) and its gradient w.r.t. the Q head, row by row in float64:
  ;;   td = Q(s, a) - target, loss = mean w huber(td) (or w td^2 / 2),
  ;;   dLoss/dQ(s, a) = w huber'(td) / rows, huber'(x) = clip(x, -1, 1) (mse: x).
  ;; Dueling (the value layer >= 0): Q = V + A - mean(A), so dA_j = dQ_j - mean_j dQ and dV = sum_j dQ.
  ;; Writes the TD errors and the metrics qf_loss, qf_mean, td_error_mean.
  (func $tdLoss (param $rows i32) (param $huber i32)
    (local $r i32) (local $j i32) (local $n i32) (local $q i32) (local $value i32) (local $dueling i32)
    (local $advantages i32) (local $dq i32) (local $action i32) (local $metrics i32)
    (local $invRows f64) (local $mean f64) (local $qsa f64) (local $td f64) (local $abs f64) (local $w f64)
    (local $perSample f64) (local $grad f64) (local $sumLoss f64) (local $sumQ f64) (local $sumAbs f64)
    (local.set $invRows (f64.div (f64.const 1) (f64.convert_i32_u (local.get $rows))))
    (local.set $n (call $header (global.get $H_OUTPUTS)))
    (local.set $q
      (i32.add (call $header (global.get $H_TABLE)) (i32.mul (call $header (global.get $H_POLICY)) (global.get $LAYER_BYTES))))
    (local.set $dueling (i32.ge_s (call $header (global.get $H_VALUE)) (i32.const 0)))
    (local.set $value
      (i32.add (call $header (global.get $H_TABLE)) (i32.mul (call $header (global.get $H_VALUE)) (global.get $LAYER_BYTES))))
    (local.set $metrics (call $header (global.get $H_METRICS)))
    (local.set $r (i32.const 0))
    (loop $rowLoop
      (local.set $advantages
        (i32.add (call $field (local.get $q) (global.get $L_Y))
          (i32.mul (local.get $r) (call $field (local.get $q) (global.get $L_STRIDE)))))
      (local.set $dq
        (i32.add (call $field (local.get $q) (global.get $L_D))
          (i32.mul (local.get $r) (call $field (local.get $q) (global.get $L_STRIDE)))))
      (local.set $action
        (i32.trunc_f32_s
          (f32.load
            (i32.add (call $header (global.get $H_ACTIONS))
              (i32.shl (i32.mul (local.get $r) (call $header (global.get $H_ACTION_DIM))) (i32.const 2))))))
      (local.set $qsa
        (f64.promote_f32 (f32.load (i32.add (local.get $advantages) (i32.shl (local.get $action) (i32.const 2))))))
      (if (local.get $dueling)
        (then
          (local.set $mean (f64.const 0))
          (local.set $j (i32.const 0))
          (loop $columns
            (local.set $mean
              (f64.add (local.get $mean)
                (f64.promote_f32 (f32.load (i32.add (local.get $advantages) (i32.shl (local.get $j) (i32.const 2)))))))
            (br_if $columns (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
          (local.set $qsa
            (f64.add
              (f64.promote_f32
                (f32.load
                  (i32.add (call $field (local.get $value) (global.get $L_Y))
                    (i32.mul (local.get $r) (call $field (local.get $value) (global.get $L_STRIDE))))))
              (f64.sub (local.get $qsa) (f64.div (local.get $mean) (f64.convert_i32_u (local.get $n))))))))
      (local.set $td (f64.sub (local.get $qsa) (call $rowF32 (global.get $H_TARGETS) (local.get $r))))
      (f32.store (i32.add (call $header (global.get $H_TD_ERRORS)) (i32.shl (local.get $r) (i32.const 2)))
        (f32.demote_f64 (local.get $td)))
      (local.set $abs (f64.abs (local.get $td)))
      (local.set $w (call $rowF32 (global.get $H_WEIGHTS) (local.get $r)))
      (if (i32.and (local.get $huber) (f64.gt (local.get $abs) (f64.const 1)))
        (then (local.set $perSample (f64.sub (local.get $abs) (f64.const 0.5))))
        (else (local.set $perSample (f64.mul (f64.const 0.5) (f64.mul (local.get $td) (local.get $td))))))
      (local.set $grad
        (f64.mul (f64.mul (local.get $w) (local.get $invRows))
          (select (call $clamp (local.get $td) (f64.const -1) (f64.const 1)) (local.get $td) (local.get $huber))))
      (local.set $sumLoss (f64.add (local.get $sumLoss) (f64.mul (local.get $w) (local.get $perSample))))
      (local.set $sumQ (f64.add (local.get $sumQ) (local.get $qsa)))
      (local.set $sumAbs (f64.add (local.get $sumAbs) (local.get $abs)))
      (if (local.get $dueling)
        (then
          ;; dA_j = [j = a] g - g / n, dV = g.
          (local.set $j (i32.const 0))
          (loop $columns
            (f32.store (i32.add (local.get $dq) (i32.shl (local.get $j) (i32.const 2)))
              (f32.demote_f64
                (f64.sub
                  (select (local.get $grad) (f64.const 0) (i32.eq (local.get $j) (local.get $action)))
                  (f64.div (local.get $grad) (f64.convert_i32_u (local.get $n))))))
            (br_if $columns (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
          (f32.store
            (i32.add (call $field (local.get $value) (global.get $L_D))
              (i32.mul (local.get $r) (call $field (local.get $value) (global.get $L_STRIDE))))
            (f32.demote_f64 (local.get $grad))))
        (else
          (f32.store (i32.add (local.get $dq) (i32.shl (local.get $action) (i32.const 2))) (f32.demote_f64 (local.get $grad)))))
      (br_if $rowLoop (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rows))))
    (f64.store offset=0 (local.get $metrics) (f64.mul (local.get $sumLoss) (local.get $invRows)))
    (f64.store offset=8 (local.get $metrics) (f64.mul (local.get $sumQ) (local.get $invRows)))
    (f64.store offset=16 (local.get $metrics) (f64.mul (local.get $sumAbs) (local.get $invRows))))

;; ---------------------------------------------------------------------------------------------------
  ;; The optimizer over the flat regions.

  ;; sqrt(sum g^2) over the gradient region, summed in float64.
  (func $gradNorm (result f64)
    (local $p i32) (local $end i32) (local $g v128) (local $sum v128)
    (local.set $p (call $header (global.get $H_GRADS)))
    (local.set $end (i32.add (local.get $p) (i32.shl (call $header (global.get $H_SIZE)) (i32.const 2))))
    (local.set $sum (v128.const f64x2 0 0))
    (loop $chunks
      (local.set $g (v128.load (local.get $p)))
      (local.set $g (f32x4.mul (local.get $g) (local.get $g)))
      (local.set $sum (f64x2.add (local.get $sum) (f64x2.promote_low_f32x4 (local.get $g))))
      (local.set $sum
        (f64x2.add (local.get $sum) (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $g) (local.get $g)))))
      (br_if $chunks (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end))))
    (f64.sqrt (f64.add (f64x2.extract_lane 0 (local.get $sum)) (f64x2.extract_lane 1 (local.get $sum)))))

  ;; Adam on the parameters from byte `offset` to `end` of each region (multiples of 16), as
  ;; src/learner/adam.ts: g = scale grad, m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
  ;; w -= stepSize m / (sqrt(v) / sqrtBias2 + eps).
  (func $adamRange (export "adam_range") (param $offset i32) (param $end i32)
    (param $scale f32) (param $stepSize f32) (param $sqrtBias2 f32)
    (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (local $params i32) (local $grads i32) (local $m i32) (local $v i32)
    (local $g v128) (local $mv v128) (local $vv v128) (local $b1 v128) (local $b2 v128)
    (local $c1 v128) (local $c2 v128) (local $s v128) (local $step v128) (local $bias v128) (local $e v128)
    (local.set $params (call $header (global.get $H_PARAMS)))
    (local.set $grads (call $header (global.get $H_GRADS)))
    (local.set $m (call $header (global.get $H_M)))
    (local.set $v (call $header (global.get $H_V)))
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $b1 (f32x4.splat (local.get $beta1)))
    (local.set $b2 (f32x4.splat (local.get $beta2)))
    (local.set $c1 (f32x4.splat (f32.sub (f32.const 1) (local.get $beta1))))
    (local.set $c2 (f32x4.splat (f32.sub (f32.const 1) (local.get $beta2))))
    (local.set $step (f32x4.splat (local.get $stepSize)))
    (local.set $bias (f32x4.splat (local.get $sqrtBias2)))
    (local.set $e (f32x4.splat (local.get $eps)))
    (loop $chunks
      (local.set $g (f32x4.mul (v128.load (i32.add (local.get $grads) (local.get $offset))) (local.get $s)))
      (local.set $mv
        (f32x4.add (f32x4.mul (local.get $b1) (v128.load (i32.add (local.get $m) (local.get $offset))))
          (f32x4.mul (local.get $c1) (local.get $g))))
      (local.set $vv
        (f32x4.add (f32x4.mul (local.get $b2) (v128.load (i32.add (local.get $v) (local.get $offset))))
          (f32x4.mul (f32x4.mul (local.get $c2) (local.get $g)) (local.get $g))))
      (v128.store (i32.add (local.get $m) (local.get $offset)) (local.get $mv))
      (v128.store (i32.add (local.get $v) (local.get $offset)) (local.get $vv))
      (v128.store (i32.add (local.get $params) (local.get $offset))
        (f32x4.sub (v128.load (i32.add (local.get $params) (local.get $offset)))
          (f32x4.div (f32x4.mul (local.get $step) (local.get $mv))
            (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vv)) (local.get $bias)) (local.get $e)))))
      (br_if $chunks (i32.lt_u (local.tee $offset (i32.add (local.get $offset) (i32.const 16))) (local.get $end)))))

  ;; Adam on every parameter: $adamRange over the whole regions, or the host's split of it.
  (func $adam (param $scale f32) (param $stepSize f32) (param $sqrtBias2 f32)
    (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (local $bytes i32)
    (local.set $bytes (i32.shl (call $header (global.get $H_SIZE)) (i32.const 2)))
    (if (call $splits (local.get $bytes))
      (then
        (if (call $hostAdam (local.get $bytes) (local.get $scale) (local.get $stepSize) (local.get $sqrtBias2)
              (local.get $beta1) (local.get $beta2) (local.get $eps))
          (then (return)))))
    (call $adamRange (i32.const 0) (local.get $bytes) (local.get $scale) (local.get $stepSize)
      (local.get $sqrtBias2) (local.get $beta1) (local.get $beta2) (local.get $eps)))

  ;; A target network's Polyak move toward the parameters: target <- tau params + (1 - tau) target, over
  ;; a region of the parameters' layout at `target` (padding stays zero).
  (func (export "polyak") (param $target i32) (param $tau f32)
    (local $p i32) (local $end i32) (local $t v128) (local $rest v128)
    (local.set $p (call $header (global.get $H_PARAMS)))
    (local.set $end (i32.add (local.get $p) (i32.shl (call $header (global.get $H_SIZE)) (i32.const 2))))
    (local.set $t (f32x4.splat (local.get $tau)))
    (local.set $rest (f32x4.splat (f32.sub (f32.const 1) (local.get $tau))))
    (loop $chunks
      (v128.store (local.get $target)
        (f32x4.add (f32x4.mul (local.get $t) (v128.load (local.get $p)))
          (f32x4.mul (local.get $rest) (v128.load (local.get $target)))))
      (local.set $target (i32.add (local.get $target) (i32.const 16)))
      (br_if $chunks (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 16))) (local.get $end)))))

  ;; ---------------------------------------------------------------------------------------------------
  ;; The exported steps.

  ;; Clipping (gradClip < 0: none) and Adam when the gradient's global norm is finite; a non-finite norm
  ;; leaves parameters and moments as they were. Returns the norm before clipping.
  (func $clipAndAdam (export "clip_and_adam")
    (param $gradClip f64) (param $stepSize f32) (param $sqrtBias2 f32) (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (result f64)
    (local $norm f64)
    (local.set $norm (call $gradNorm))
    ;; norm - norm is 0 for a finite norm, NaN for an infinite or NaN one.
    (if (f64.eq (f64.sub (local.get $norm) (local.get $norm)) (f64.const 0))
      (then
        (call $adam
          (if (result f32) (f64.lt (local.get $gradClip) (f64.const 0))
            (then (f32.const 1))
            (else
              (f32.demote_f64
                (f64.min (f64.div (local.get $gradClip) (f64.add (local.get $norm) (f64.const 1e-6))) (f64.const 1)))))
          (local.get $stepSize) (local.get $sqrtBias2) (local.get $beta1) (local.get $beta2) (local.get $eps))))
    (local.get $norm))

  ;; One PPO minibatch step on the first `rows` rows of the inputs: forward, loss, backward, clipping and
  ;; Adam. Returns the gradient's norm before clipping; the metrics are in the header's metrics block.
  (func (export "ppo_step")
    (param $rows i32) (param $clip f64) (param $vfClip f64) (param $vfCoeff f64) (param $entCoeff f64)
    (param $gradClip f64) (param $stepSize f32) (param $sqrtBias2 f32)
    (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (result f64)
    (call $forward (local.get $rows))
    (call $clearOutputGradients (local.get $rows))
    (call $ppoLoss (local.get $rows) (local.get $clip) (local.get $vfClip) (local.get $vfCoeff) (local.get $entCoeff))
    (call $backward (local.get $rows) (i32.const 1))
    (call $clipAndAdam (local.get $gradClip) (local.get $stepSize) (local.get $sqrtBias2)
      (local.get $beta1) (local.get $beta2) (local.get $eps)))

  ;; The forward pass alone on the first `rows` rows of the observations, with the parameters at
  ;; `params` (the header's region, or another copy of the same layout: a target network's); every
  ;; layer's outputs are in its Y.
  (func (export "forward") (param $rows i32) (param $params i32)
    (local $own i32)
    (local.set $own (call $header (global.get $H_PARAMS)))
    (i32.store (global.get $H_PARAMS) (local.get $params))
    (call $forward (local.get $rows))
    (i32.store (global.get $H_PARAMS) (local.get $own)))

  ;; One DQN gradient step on the first `rows` rows of a replay sample, its targets given: forward, the TD
  ;; loss (huber 1: Huber, 0: squared error), backward, clipping and Adam. Returns the norm before clipping.
  (func (export "td_step")
    (param $rows i32) (param $huber i32)
    (param $gradClip f64) (param $stepSize f32) (param $sqrtBias2 f32)
    (param $beta1 f32) (param $beta2 f32) (param $eps f32)
    (result f64)
    (call $forward (local.get $rows))
    (call $clearOutputGradients (local.get $rows))
    (call $tdLoss (local.get $rows) (local.get $huber))
    (call $backward (local.get $rows) (i32.const 1))
    (call $clipAndAdam (local.get $gradClip) (local.get $stepSize) (local.get $sqrtBias2)
      (local.get $beta1) (local.get $beta2) (local.get $eps)))
)
