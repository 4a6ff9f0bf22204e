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


@pytest.fixture
def decode_sizes(monkeypatch) -> list[int]:
    """The number of users in each LM decode call made during the test."""
    import simulators.lm_simulator as lm

    calls: list[int] = []
    decode = lm.decode_actions
    monkeypatch.setattr(lm, "decode_actions", lambda model, requests, *a: calls.append(len(requests)) or decode(
        model, requests, *a))
    return calls


def test_lm_users_decode_together_and_play_the_episodes_they_play_alone(micro_pack, decode_sizes):
    calls = decode_sizes
    kwargs = {"simulator": "sts", "profile": "verbosity=high", "split": "test", "pack": str(micro_pack)}
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


# Gymnasium's vector API -------------------------------------------------------------------------------------------

def _play_gym(venv, steps: int, seed: int) -> list:
    """Everything ``reset`` and ``step`` return for ``steps`` seeded random actions, infos flattened to what
    differs between vector environments that disagree (final observations, masks, end reasons)."""
    rng = np.random.default_rng(seed)
    obs, info = venv.reset(seed=seed)
    trace = [(obs.copy(), sorted(info))]
    for _ in range(steps):
        obs, rewards, terms, truncs, info = venv.step(rng.integers(0, 15, size=venv.num_envs))
        final = [None if f is None else np.asarray(f).copy() for f in info.get("final_obs", [None] * venv.num_envs)]
        trace.append((obs.copy(), rewards.copy(), terms.copy(), truncs.copy(), final,
                      list(info.get("end_reason", [None] * venv.num_envs))))
    return trace


def _same_gym(a: list, b: list) -> None:
    assert len(a) == len(b)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    for x, y in zip(a[1:], b[1:]):
        for u, v in zip(x[:4], y[:4]):
            np.testing.assert_array_equal(u, v)
        assert [f is None for f in x[4]] == [f is None for f in y[4]]
        assert all(f is None or np.array_equal(f, g) for f, g in zip(x[4], y[4]))
        assert x[5] == y[5]


def _sync_class():
    from gymnasium.vector import SyncVectorEnv

    from mtad_env.vector_env import BatchedUsersVectorEnv

    # Gymnasium's own SyncVectorEnv, with the same info batching (it fails on a None after a number)
    return type("Sync", (SyncVectorEnv,), {"_add_info": BatchedUsersVectorEnv._add_info})


_Sync = _sync_class()


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_gymnasium_vector_env_steps_as_sync_vector_env_does(mode):
    from gymnasium.vector import AutoresetMode

    from mtad_env.vector_env import BatchedUsersVectorEnv

    batched_mode = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}.get
    fns = [lambda: mtad_env.AssistantEnv(simulator="agenda", split="test") for _ in range(3)]
    batched = _play_gym(BatchedUsersVectorEnv(fns, autoreset_mode=mode), 70, seed=5)
    sync = _play_gym(_Sync(fns, autoreset_mode=batched_mode(mode)), 70, seed=5)
    _same_gym(batched, sync)
    assert sum(t.sum() for _, _, t, _, _, _ in batched[1:]) >= 3  # episodes ended and were reset
    if mode == "same_step":
        assert any(f is not None for step in batched[1:] for f in step[4])


def test_gymnasium_vector_env_decodes_lm_users_together(micro_pack, decode_sizes):
    import gymnasium

    from mtad_env.vector_env import make_batched_vector_env

    calls = decode_sizes
    kwargs = {"simulator": "sts", "profile": "verbosity=high", "split": "test", "pack": str(micro_pack)}
    venv = make_batched_vector_env(3, **kwargs)
    assert venv.single_observation_space == gymnasium.spaces.Box(0.0, 1.0, (41,), np.float32)
    assert venv.observation_space.shape == (3, 41) and venv.action_space.shape == (3,)
    batched = _play_gym(venv, 10, seed=2)
    assert max(calls) == 3
    calls.clear()
    sync = _play_gym(_Sync([lambda: mtad_env.AssistantEnv(**kwargs) for _ in range(3)]), 10, seed=2)
    assert max(calls) == 1
    _same_gym(batched, sync)


def test_gymnasium_vector_env_reset_mask_and_disabled_autoreset():
    from mtad_env.vector_env import make_batched_vector_env

    venv = make_batched_vector_env(2, autoreset_mode="disabled", simulator="agenda", split="test")
    first, _ = venv.reset(seed=0)
    rng, done = np.random.default_rng(0), np.zeros(2, dtype=bool)
    while not done.any():
        _, _, terms, truncs, _ = venv.step(rng.integers(0, 15, size=2))
        done = terms | truncs
    with pytest.raises(InvalidValueError, match="reset_mask"):
        venv.step(np.zeros(2, dtype=np.int64))
    obs, info = venv.reset(seed=[0, None], options={"reset_mask": done})
    if done[0]:
        np.testing.assert_array_equal(obs[0], first[0])  # the same seed, the same first observation
    venv.step(np.zeros(2, dtype=np.int64))  # stepping works again
    with pytest.raises(InvalidValueError, match="autoreset_mode"):
        make_batched_vector_env(2, autoreset_mode="sometimes")


def test_the_environments_of_both_vector_envs_pass_gymnasium_and_sb3_checkers_with_lm_users(micro_pack):
    """Neither library checks a vector environment as a whole; both check the environments it is made of, here
    with the STS users the vector environments batch, and the batched spaces are those of the single one."""
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    from mtad_env.vector_env import make_batched_vector_env

    kwargs = {"simulator": "sts", "profile": "verbosity=high", "split": "test", "pack": str(micro_pack)}
    for venv in (make_batched_vec_env(2, seed=0, **kwargs), make_batched_vector_env(2, **kwargs)):
        gym_check_env(venv.envs[0], skip_render_check=True)  # the environments are alike: check one of each
        sb3_check_env(venv.envs[1], warn=True)
    sb3_venv = make_batched_vec_env(2, seed=0, **kwargs)
    assert sb3_venv.observation_space == sb3_venv.envs[0].observation_space
    obs = sb3_venv.reset()
    assert obs.shape == (2, 41) and all(sb3_venv.observation_space.contains(o) for o in obs)
