/**
 * The classic-control suite with Gymnasium 1.4's dynamics and registration values
 * (gymnasium/envs/__init__.py). The registry (`../registry.ts`) registers every entry of `CLASSIC_ENVS`.
 */
import type { Env } from "../types.js";
import { AcrobotEnv, type AcrobotKwargs } from "./acrobot.js";
import { CartPoleEnv, type CartPoleKwargs } from "./cartpole.js";
import { ContinuousMountainCarEnv, type ContinuousMountainCarKwargs } from "./continuous_mountain_car.js";
import { MountainCarEnv, type MountainCarKwargs } from "./mountain_car.js";
import { PendulumEnv, type PendulumKwargs } from "./pendulum.js";

export { ClassicControlEnv } from "./base.js";
export type { AcrobotKwargs, CartPoleKwargs, ContinuousMountainCarKwargs, MountainCarKwargs, PendulumKwargs };
export { AcrobotEnv, CartPoleEnv, ContinuousMountainCarEnv, MountainCarEnv, PendulumEnv };

export interface ClassicEnvRegistration {
  id: string;
  /** Builds the env; kwargs are Gymnasium's names (`render_mode`, `sutton_barto_reward`, `g`, `goal_velocity`), checked by the constructor. */
  create: (kwargs: Record<string, unknown>) => Env;
  maxEpisodeSteps: number;
  rewardThreshold?: number;
}

export const CLASSIC_ENVS: readonly ClassicEnvRegistration[] = [
  {
    id: "CartPole-v1",
    create: (kwargs) => new CartPoleEnv(kwargs as CartPoleKwargs),
    maxEpisodeSteps: 500,
    rewardThreshold: 475.0,
  },
  {
    id: "MountainCar-v0",
    create: (kwargs) => new MountainCarEnv(kwargs as MountainCarKwargs),
    maxEpisodeSteps: 200,
    rewardThreshold: -110.0,
  },
  {
    id: "MountainCarContinuous-v0",
    create: (kwargs) => new ContinuousMountainCarEnv(kwargs as ContinuousMountainCarKwargs),
    maxEpisodeSteps: 999,
    rewardThreshold: 90.0,
  },
  {
    id: "Pendulum-v1",
    create: (kwargs) => new PendulumEnv(kwargs as PendulumKwargs),
    maxEpisodeSteps: 200,
  },
  {
    id: "Acrobot-v1",
    create: (kwargs) => new AcrobotEnv(kwargs as AcrobotKwargs),
    maxEpisodeSteps: 500,
    rewardThreshold: -100.0,
  },
];
