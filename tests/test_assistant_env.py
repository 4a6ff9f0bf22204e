"""The single-agent Gymnasium view for RL: checkers, vectorisation, determinism, a PPO smoke run."""

import numpy as np
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env

import mtad_env


def test_gymnasium_and_sb3_checkers_pass():
    gym_check_env(mtad_env.AssistantEnv(), skip_render_check=True)
    sb3_check_env(mtad_env.AssistantEnv(), warn=True)


def test_vectorises_with_make_vec_env_and_steps():
    vec = make_vec_env(mtad_env.AssistantEnv, n_envs=2, seed=0)
    obs = vec.reset()
    assert obs.shape == (2, 41)
    for _ in range(30):
        obs, rewards, dones, infos = vec.step(np.array([vec.action_space.sample() for _ in range(2)]))
    assert np.isfinite(rewards).all()


def test_same_seed_same_trajectory():
    def trajectory():
        env = mtad_env.AssistantEnv()
        obs, _ = env.reset(seed=5)
        out = [obs]
        for a in [1, 1, 5, 3, 1, 12, 1]:
            obs, r, term, trunc, _ = env.step(a)
            out.append(np.append(obs, r))
            if term or trunc:
                break
        return np.concatenate(out)
    assert np.array_equal(trajectory(), trajectory())


def test_ppo_smoke_trains_a_few_dozen_steps():
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", mtad_env.AssistantEnv(), n_steps=32, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    action, _ = model.predict(mtad_env.AssistantEnv().reset(seed=0)[0], deterministic=True)
    assert 0 <= int(action) < 15
