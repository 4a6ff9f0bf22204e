"""BatchedUsersVecEnv: the same episodes as SB3's DummyVecEnv, users decoded in batches, PPO trains on it."""

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecMonitor

import mtad_env
from mtad_env.errors import InvalidValueError
from mtad_env.vector_env import BatchedUsersVecEnv, make_batched_vec_env


def _play(venv, steps: int, seed: int) -> list:
    """Observations, rewards, dones and terminal observations of ``steps`` seeded random actions."""
    rng = np.random.default_rng(seed)
    venv.seed(seed)
    trace = [venv.reset().copy()]
    for _ in range(steps):
        obs, rewards, dones, infos = venv.step(rng.integers(0, venv.action_space.n, size=venv.num_envs))
        terminal = [info.get("terminal_observation") for info in infos]
        trace.append((obs.copy(), rewards.copy(), dones.copy(), terminal, [i.get("TimeLimit.truncated") for i in infos]))
    return trace


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a[0], b[0])
    for (o1, r1, d1, t1, x1), (o2, r2, d2, t2, x2) in zip(a[1:], b[1:]):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert x1 == x2
        for u, v in zip(t1, t2):
            assert (u is None) == (v is None) and (u is None or np.array_equal(u, v))


def test_agenda_episodes_are_those_of_dummy_vec_env_with_autoreset():
    kwargs = {"simulator": "agenda", "split": "test"}
    batched = _play(BatchedUsersVecEnv([lambda: mtad_env.AssistantEnv(**kwargs) for _ in range(4)]), 80, seed=3)
    dummy = _play(DummyVecEnv([lambda: mtad_env.AssistantEnv(**kwargs) for _ in range(4)]), 80, seed=3)
    _same(batched, dummy)
    assert sum(d.sum() for _, _, d, _, _ in batched[1:]) >= 4  # episodes ended and were reset


def test_lm_users_decode_together_and_play_the_episodes_they_play_alone(micro_pack, monkeypatch):
    import simulators.lm_simulator as lm

    kwargs = {"simulator": "sts", "profile": "verbosity=high", "split": "test", "pack": str(micro_pack)}
    calls = []
    decode = lm.decode_actions
    monkeypatch.setattr(lm, "decode_actions", lambda model, requests, *a: calls.append(len(requests)) or decode(
        model, requests, *a))
    batched = _play(BatchedUsersVecEnv([lambda: mtad_env.AssistantEnv(**kwargs) for _ in range(3)]), 12, seed=1)
    assert max(calls) == 3 and len(calls) < sum(calls)  # several users per decode
    calls.clear()
    dummy = _play(DummyVecEnv([lambda: mtad_env.AssistantEnv(**kwargs) for _ in range(3)]), 12, seed=1)
    assert max(calls) == 1
    _same(batched, dummy)


def test_ppo_trains_on_the_batched_vec_env_under_sb3_wrappers():
    venv = VecCheckNan(VecMonitor(make_batched_vec_env(4, seed=0, simulator="agenda")), raise_exception=True)
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256 and len(model.ep_info_buffer) > 0


def test_bad_arguments_name_the_problem():
    with pytest.raises(InvalidValueError, match="n_envs"):
        make_batched_vec_env(0)
    with pytest.raises(InvalidValueError, match="unwrapped AssistantEnv"):
        from stable_baselines3.common.monitor import Monitor

        BatchedUsersVecEnv([lambda: Monitor(mtad_env.AssistantEnv())])


def test_bench_vec_env_reports_both_vector_environments(micro_pack):
    from evaluation.env_benchmarks import vec_env_rates

    rates = vec_env_rates(0.5, n_envs=3, pack=str(micro_pack))
    assert set(rates) == {"batched_steps_per_s", "dummy_steps_per_s", "speedup", "n_envs"}
    assert rates["batched_steps_per_s"] > 0 and rates["dummy_steps_per_s"] > 0 and rates["n_envs"] == 3
