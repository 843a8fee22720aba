/**
 * Dense layers on tfjs variables, written for small networks on the wasm backend: one fused matmul per
 * layer forward, a hand-written backward pass (plain matmuls on explicit transposes), and `denseLayer`, the
 * two joined as one autodiff op. The actor-critic (`network.ts`) and DQN's Q network are built from these.
 */
import * as tf from "@tensorflow/tfjs";

export interface DenseVariables {
  kernel: tf.Variable;
  bias: tf.Variable;
}

export type Activation = "tanh" | "relu" | "linear";

/** `activation(x @ kernel + bias)`, the fused matmul then the activation. */
function denseForward(x: tf.Tensor2D, d: DenseVariables, activation: Activation): tf.Tensor2D {
  // The _FusedMatMul kernel called directly: `tf.fused.matMul` wraps it in a `tf.customGrad` each call
  // (~30 us on wasm), and the gradient is `denseBackward`'s anyway.
  const [inDim, outDim] = d.kernel.shape;
  const batch = x.shape[0];
  const fused = tf.engine().runKernel(
    "_FusedMatMul",
    {
      a: tf.reshape(x, [1, batch, inDim]),
      b: tf.reshape(d.kernel, [1, inDim, outDim]),
      bias: d.bias,
    },
    { transposeA: false, transposeB: false, activation: activation === "relu" ? "relu" : "linear" },
  ) as tf.Tensor3D;
  const pre = tf.reshape(fused, [batch, outDim]) as tf.Tensor2D;
  // tanh(z) = 2 sigmoid(2z) - 1: wasm's Sigmoid is XNNPACK's vectorised kernel, its Tanh a scalar loop
  // (~3x slower for all four ops together at 128x64).
  return activation === "tanh" ? tf.sub(tf.mul(tf.sigmoid(tf.mul(pre, 2)), 2), 1) : pre;
}

/** dLoss/d(pre-activation) from dLoss/dy and the output y: tanh' = 1 - y^2, relu' = [y > 0]. */
function preActivationGradient(dy: tf.Tensor2D, y: tf.Tensor2D, activation: Activation): tf.Tensor2D {
  if (activation === "tanh") return tf.mul(dy, tf.sub(1, tf.square(y)));
  if (activation === "relu") return tf.mul(dy, tf.step(y));
  return dy;
}

/**
 * A dense layer's gradients from dLoss/dy, its input and its output y. tfjs's own MatMul gradient
 * multiplies by transposed operands via the matmul's transpose flags, which the wasm backend runs in a
 * naive loop (~8x slower than XNNPACK's plain matmul at 128x64x64); transposing explicitly and calling
 * the plain matmul is much faster. `dx` is a function: the first layer has no use for it.
 */
function denseBackward(
  dy: tf.Tensor2D,
  input: tf.Tensor2D,
  y: tf.Tensor2D,
  kernel: tf.Tensor2D,
  activation: Activation,
) {
  const dPre = preActivationGradient(dy, y, activation);
  return {
    dx: () => tf.matMul(dPre, tf.transpose(kernel)) as tf.Tensor2D,
    dKernel: tf.matMul(tf.transpose(input), dPre),
    // The column sums as ones @ dPre: wasm reduces over axis 0 by transposing first (~4x slower).
    dBias: tf.reshape(tf.matMul(tf.ones([1, dPre.shape[0]]), dPre), [-1]),
  };
}

/**
 * `denseForward` as one op with `denseBackward` as its gradient, for autodiff. `xNeedsGrad` is false for
 * the observation input: no dx is computed.
 */
export function denseLayer(
  x: tf.Tensor2D,
  d: DenseVariables,
  activation: Activation,
  xNeedsGrad: boolean,
): tf.Tensor2D {
  const kernel = d.kernel as tf.Tensor2D;
  const forward = (input: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const y = denseForward(input, d, activation);
    save([input, y]);
    return y;
  };
  const backward = (dy: tf.Tensor, [savedInput, y]: tf.Tensor[]) =>
    denseBackward(dy as tf.Tensor2D, savedInput as tf.Tensor2D, y as tf.Tensor2D, kernel, activation);
  if (xNeedsGrad) {
    return tf.customGrad((input, _kernel, _bias, save) => ({
      value: forward(input as tf.Tensor2D, save as tf.GradSaveFunc),
      gradFunc: (dy, saved) => {
        const g = backward(dy, saved);
        return [g.dx(), g.dKernel, g.dBias];
      },
    }))(x, d.kernel, d.bias) as tf.Tensor2D;
  }
  return tf.customGrad((_kernel, _bias, save) => ({
    value: forward(x, save as tf.GradSaveFunc),
    gradFunc: (dy, saved) => {
      const g = backward(dy, saved);
      return [g.dKernel, g.dBias];
    },
  }))(d.kernel, d.bias) as tf.Tensor2D;
}

/**
 * Each layer's output for a chain of dense layers from `x`: all activated, or the last one linear when
 * `activateLast` is false (a head). The outputs are what `chainBackward` needs.
 */
export function chainForward(
  x: tf.Tensor2D,
  layers: DenseVariables[],
  activation: Activation,
  activateLast = true,
): tf.Tensor2D[] {
  const outputs: tf.Tensor2D[] = [];
  layers.forEach((d, i) => {
    const linear = !activateLast && i === layers.length - 1;
    outputs.push(denseForward(outputs.at(-1) ?? x, d, linear ? "linear" : activation));
  });
  return outputs;
}

/**
 * The gradients of a chain's weights (kernel then bias per layer, first to last) from dLoss/d(its last
 * output), and dLoss/d(its input) when `inputNeedsGrad` (else null).
 */
export function chainBackward(
  x: tf.Tensor2D,
  layers: DenseVariables[],
  outputs: tf.Tensor2D[],
  dOut: tf.Tensor2D,
  activation: Activation,
  { activateLast = true, inputNeedsGrad = false } = {},
): { grads: tf.Tensor[]; dInput: tf.Tensor2D | null } {
  const grads: tf.Tensor[] = [];
  let dy = dOut;
  for (let i = layers.length - 1; i >= 0; i--) {
    const linear = !activateLast && i === layers.length - 1;
    const input = i === 0 ? x : outputs[i - 1];
    const g = denseBackward(
      dy,
      input,
      outputs[i],
      layers[i].kernel as tf.Tensor2D,
      linear ? "linear" : activation,
    );
    grads.unshift(g.dKernel, g.dBias);
    if (i > 0 || inputNeedsGrad) dy = g.dx();
  }
  return { grads, dInput: inputNeedsGrad ? dy : null };
}

/**
 * dLoss/d(the chain's input) from dLoss/d(its last output), without the weights' gradients: what a loss
 * through a network it does not train needs (SAC's actor loss through the critics).
 */
export function chainInputGradient(
  layers: DenseVariables[],
  outputs: tf.Tensor2D[],
  dOut: tf.Tensor2D,
  activation: Activation,
  activateLast: boolean,
): tf.Tensor2D {
  let dy = dOut;
  for (let i = layers.length - 1; i >= 0; i--) {
    const linear = !activateLast && i === layers.length - 1;
    const dPre = preActivationGradient(dy, outputs[i], linear ? "linear" : activation);
    dy = tf.matMul(dPre, tf.transpose(layers[i].kernel)) as tf.Tensor2D;
  }
  return dy;
}
