"""Synthetic onboarding data shaped like the original CSV exports, defects included.

`generate_dataset` writes `lk_onboarding.csv`, `dim_users.csv` and `bt_users_transactions.csv` with
the headers, value formats and quoting of the files in `data/original/` and reproduces, at the same
proportions, the structure and the defects described in `data/original/SCHEMA.md`:

* onboarding blocks A (plain users), B (seller cohort, `rubro` set, most of them `MLB4` + the digits
  of a block-A id with an identical onboarding row) and C (rows with `YYYY-MM-DD 00:00:00` dates:
  exact duplicates of block-A rows and `-1` suffixed ids with corrupted `habito` / `return_dt`);
* transactions for exactly the users with `habito = 1` (5 rows sharing one timestamp by default),
  empty timestamps for the users with habit but no activation, a few users transacting before
  their first login, and a small share of users transacting on several distinct days;
* `heavy=True` (or `tx_per_user > 5`): transacting users spread many transactions over many days.

Everything is vectorised with numpy and assembled as Arrow string arrays, written in chunks. The
output is a pure function of the arguments: the same arguments always give the same bytes.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ONBOARDING_FILE = "lk_onboarding.csv"
USERS_FILE = "dim_users.csv"
TRANSACTIONS_FILE = "bt_users_transactions.csv"

ONBOARDING_COLUMNS = (
    "", "Unnamed: 0", "first_login_dt", "week_year", "user_id", "habito", "habito_dt",
    "activacion", "activacion_dt", "setup", "setup_dt", "return", "return_dt",
)  # fmt: skip
USERS_COLUMNS = ("", "user_id", "name", "email", "address", "birth_dt", "phone", "type", "rubro")
TRANSACTIONS_COLUMNS = ("", "user_id", "transaction_dt", "type", "segment")

SAMPLE_USERS = 2000
SAMPLE_SEED = 2022
HEAVY_TX_USERS_SHARE = 0.4
HEAVY_TX_PER_USER = 50

# Shares of the original (13,000 distinct ids).
_SELLER_SHARE = 2000 / 13000
_MALFORMED_SHARE = 1000 / 13000
_DUPLICATE_SHARE = 500 / 13000
_NO_TIMESTAMP_SHARE = 3 / 10658  # of independent users (A, own B); their copies add ~1
_SELLER_COPY_SHARE = 1342 / 2000
_SELLER_TYPE_SHARE = 1310 / 2000
_SELLER_OWN_END2_SHARE = 216 / 658
_MALFORMED_EMPTY_HABITO = 499 / 1000
_MALFORMED_RETURN_BEFORE = 494 / 1000
_BEFORE_LOGIN_SHARE = 7 / 1535  # of transacting users
_MIDNIGHT_SHARE = 156 / 1531
_MULTI_DAY_SHARE = 0.004  # of individuals with transactions, default profile only
_MULTI_DAY_MIN = 4

_WINDOW = 30
_CHUNK_ROWS = 1_000_000
_TX_CHUNK_ROWS = 2_000_000
_TX_TIME_POOL = 66
_HEAVY_TIME_POOL = 4096

# Calendar: day offsets from 2022-01-01; lookup tables cover [_DAY_LO, _DAY_HI).
_EPOCH = np.datetime64("2022-01-01", "D")
_DAY_LO, _DAY_HI = -31, 95
_MISSING = -10_000
_BIRTH_FIRST, _BIRTH_LAST = np.datetime64("1907-11-10", "D"), np.datetime64("2023-10-30", "D")

# Users per first-login day, 2022-01-01 .. 2022-01-31 (block A of the original).
_FIRST_LOGIN_WEIGHTS = (
    146, 204, 352, 369, 371, 372, 342, 242, 249, 339, 351, 325, 366, 324, 268, 255,
    357, 374, 375, 356, 314, 247, 247, 331, 380, 373, 360, 373, 316, 346, 376,
)  # fmt: skip
# (activacion, setup, return, habito) -> users of block A; habit without activation is injected.
_FLAG_WEIGHTS = {
    (0, 0, 0, 0): 2042, (0, 0, 1, 0): 1972, (0, 1, 0, 0): 328, (0, 1, 1, 0): 962,
    (1, 0, 0, 0): 405, (1, 0, 0, 1): 7, (1, 0, 1, 0): 1092, (1, 0, 1, 1): 216,
    (1, 1, 0, 0): 213, (1, 1, 0, 1): 2, (1, 1, 1, 0): 1785, (1, 1, 1, 1): 973,
}  # fmt: skip
# Days from habito_dt back to the (single) transaction day.
_TX_BEFORE_HABIT_WEIGHTS = (12, 30, 25, 15, 8, 4, 2.5, 1.5, 1, 1)

_MALE = (
    "João", "Luiz", "Pedro", "Davi", "Vitor", "Gustavo", "Enzo", "Lucas", "Bruno", "Eduardo",
    "Pietro", "Juan", "Renan", "Benjamin", "Leonardo", "Igor", "Breno", "Rafael", "Antônio",
    "Caio", "Emanuel", "Fernando", "Murilo", "Otávio", "Alexandre", "Thales", "Henrique",
    "Gabriel", "Kevin", "Heitor", "Thiago", "Danilo", "Joaquim", "Matheus", "Rodrigo", "Yago",
    "André", "Cauê", "Marcos", "Bryan", "Paulo", "Augusto", "Anthony", "Carlos", "Arthur", "Yuri",
    "Enrico", "Bernardo", "Theo", "Raul", "Thomas", "Miguel", "Ryan", "Kaique", "Benício",
    "Francisco", "Leandro", "Levi", "Daniel", "Vicente", "Samuel", "Isaac", "Lorenzo", "Felipe",
    "Cauã", "Nicolas", "Ian", "Lucca", "Vinicius", "Diego", "Erick", "Luan", "Marcelo",
    "João Pedro", "João Vitor", "João Guilherme", "João Felipe", "João Lucas", "João Miguel",
    "Luiz Felipe", "Luiz Gustavo", "Luiz Henrique", "Luiz Otávio", "Luiz Miguel", "Pedro Henrique",
    "Pedro Lucas", "Pedro Miguel", "Davi Lucas", "Davi Lucca", "Davi Luiz", "Vitor Hugo",
    "Vitor Gabriel", "Carlos Eduardo", "Gustavo Henrique", "Enzo Gabriel", "Paulo Henrique",
    "Marcos Vinicius",
)  # fmt: skip
_FEMALE = (
    "Ana", "Maria", "Melissa", "Lavínia", "Alana", "Amanda", "Cecília", "Nina", "Catarina",
    "Daniela", "Valentina", "Bianca", "Joana", "Beatriz", "Laura", "Bruna", "Gabrielly", "Natália",
    "Rafaela", "Sophia", "Pietra", "Sarah", "Agatha", "Clarice", "Letícia", "Giovanna", "Nicole",
    "Sofia", "Elisa", "Julia", "Evelyn", "Mirella", "Emilly", "Larissa", "Eduarda", "Heloísa",
    "Stephany", "Luiza", "Stella", "Caroline", "Carolina", "Emanuella", "Isis", "Lívia", "Maitê",
    "Manuela", "Camila", "Fernanda", "Kamilly", "Isabel", "Alícia", "Esther", "Luana", "Vitória",
    "Yasmin", "Lorena", "Mariana", "Isabela", "Clara", "Sophie", "Ana Clara", "Ana Luiza",
    "Ana Laura", "Ana Julia", "Ana Beatriz", "Ana Sophia", "Ana Vitória", "Ana Lívia",
    "Maria Clara", "Maria Eduarda", "Maria Luiza", "Maria Cecília", "Maria Alice",
    "Maria Fernanda", "Maria Julia", "Maria Sophia", "Maria Vitória", "Maria Helena",
)  # fmt: skip
_SURNAMES = (
    "Rocha", "Cardoso", "Cunha", "Costa", "Souza", "Ferreira", "Novaes", "Gonçalves", "Rezende",
    "Martins", "Nunes", "Santos", "Monteiro", "Castro", "Porto", "Duarte", "Fogaça", "Ribeiro",
    "Pires", "Alves", "Silveira", "Ramos", "Oliveira", "Cavalcanti", "Teixeira", "Moraes",
    "Carvalho", "Araújo", "Gomes", "Almeida", "Dias", "Rodrigues", "Mendes", "Pinto", "Azevedo",
    "Barbosa", "Jesus", "Farias", "Moreira", "Lima", "Correia", "Sales", "Peixoto", "Silva",
    "Nogueira", "Caldeira", "Melo", "Fernandes", "Moura", "Aragão", "Barros", "Pereira", "Vieira",
    "Freitas", "Lopes", "Campos", "Costela", "Viana", "Nascimento", "da Rocha", "da Cunha",
    "da Costa", "da Paz", "da Luz", "da Conceição", "da Mata", "da Rosa", "das Neves", "da Cruz",
    "da Mota",
)  # fmt: skip
_STREET_TYPES = (
    "Via", "Passarela", "Viaduto", "Jardim", "Quadra", "Sítio", "Largo", "Praça", "Distrito", "Rua",
    "Núcleo", "Favela", "Vereda", "Avenida", "Conjunto", "Recanto", "Esplanada", "Estrada",
    "Aeroporto", "Colônia", "Parque", "Alameda", "Área", "Trecho", "Praia", "Condomínio", "Vale",
    "Campo", "Lagoa", "Setor", "Estação", "Pátio", "Chácara", "Ladeira", "Travessa", "Rodovia",
    "Morro", "Fazenda", "Lago", "Viela", "Residencial", "Trevo", "Feira", "Loteamento", "Vila",
)  # fmt: skip
_NEIGHBOURHOODS = (
    "Vila Satélite", "Sion", "Cônego Pinheiro 1ª Seção", "Castanheira", "Vila Pilar",
    "Camponesa 2ª Seção", "Vila Coqueiral", "Vila Canto Do Sabiá", "Ouro Minas", "Vila Pinho",
    "Leonina", "Jardim Do Vale", "Vila Rica", "Santa Branca", "Esperança", "Vila Betânia",
    "Solimoes", "Antonio Ribeiro De Abreu 1ª Seção", "Vila Inestan", "Vitoria Da Conquista",
    "Conjunto Serra Verde", "Universitário", "Vila Copacabana", "Boa Vista", "Nova Granada",
    "Manacas", "Buritis", "Maria Helena", "Caiçara - Adelaide", "Pantanal", "Unidas",
    "Santa Cruz", "Belvedere", "Xangri-Lá", "Mala E Cuia", "Califórnia", "Sport Club", "Trevo",
    "Buraco Quente", "Piraja", "Maria Virgínia", "Nova Cachoeirinha", "Vila De Sá", "Serra",
    "Alto Das Antenas", "Aguas Claras", "Serrano", "Canadá", "Vila Sesc", "Boa Esperança",
    "Coração De Jesus", "Vila Minaslandia", "Etelvina Carneiro", "Baleia", "Lajedo",
    "Vista Alegre", "Taquaril", "Diamante", "Carlos Prates", "Carmo", "Frei Leopoldo", "Glória",
    "Paraíso", "Acaba Mundo", "Vila Fumec", "Pompéia", "Goiania", "Cenaculo", "Coqueiros",
    "Renascença", "Jardim São José", "Álvaro Camargos", "Vila Novo São Lucas",
)  # fmt: skip
_CITY_SUFFIXES = (
    "", "", "", "", "", " do Sul", " da Serra", " de Minas", " Alegre", " da Prata",
    " dos Dourados", " do Campo", " da Praia", " Verde", " do Amparo", " de Goiás", " da Mata",
    " do Galho", " das Flores", " do Norte", " Grande", " Paulista", " de da Cunha", " de Nunes",
    " de Araújo", " de Carvalho", " de da Mota", " de Santos", " da Mata do Campo",
)  # fmt: skip
_STATES = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)  # fmt: skip
_AREA_CODES = ("11", "21", "31", "41", "51", "61", "71", "81", "84")
# (area prefix template, separator between the digit groups, weight); "{}" = area code.
_PHONE_FORMATS = (
    ("{} ", " ", 1606), ("+55 {} ", " ", 1533), ("+55 (0{}) ", " ", 1487),
    ("+55 (0{}) ", "-", 1471), ("(0{}) ", " ", 1469), ("(0{}) ", "-", 1457),
    ("+55 {} ", "-", 1358), ("{} ", "-", 1297),
)  # fmt: skip
_TOLL_FREE = ("0300", "0500", "0800")
_TOLL_FREE_FORMATS = (("{}-", "-", 684), ("{} ", " ", 638))
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_NAME_PREFIX_SHARE = 2252 / 13000


def generate_dataset(
    out_dir: Path,
    users: int = 13000,
    seed: int = 42,
    tx_users_share: float | None = None,
    tx_per_user: int = 5,
    heavy: bool = False,
) -> dict[str, int]:
    """Write the three raw CSV files of a synthetic onboarding cohort into `out_dir`.

    Args:
        out_dir: directory to write into (created when missing; existing files are replaced).
        users: distinct user ids (the original has 13,000; onboarding gets ~3.8% more rows).
        seed: random seed; the same arguments always produce the same bytes.
        tx_users_share: share of users with transactions; None = exactly the users with
            habito = 1 (as in the original); more than that adds non-habit users.
        tx_per_user: transactions per transacting user (the mean, when above 5).
        heavy: benchmark profile: `tx_per_user` 5 becomes 50 and `tx_users_share` None becomes
            0.4, so 1 M users give about 20 M transactions spread over many days.

    Returns:
        Data rows written per file name.
    """
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    if tx_per_user < 1:
        raise ValueError(f"tx_per_user must be at least 1, got {tx_per_user}")
    if heavy:
        tx_per_user = HEAVY_TX_PER_USER if tx_per_user == 5 else tx_per_user
        tx_users_share = HEAVY_TX_USERS_SHARE if tx_users_share is None else tx_users_share
    if tx_users_share is not None and not 0.0 <= tx_users_share <= 1.0:
        raise ValueError(f"tx_users_share must be within [0, 1], got {tx_users_share}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng_cohort, rng_order, rng_tx, rng_dims, rng_people = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    cohort = _build_cohort(rng_cohort, users)
    user_ids = _user_id_strings(cohort["num"][:users], cohort["malformed"][:users])
    return {
        ONBOARDING_FILE: _write_onboarding(out_dir / ONBOARDING_FILE, cohort, user_ids, rng_order),
        USERS_FILE: _write_users(
            out_dir / USERS_FILE, cohort, user_ids, rng_dims, rng_people, users
        ),
        TRANSACTIONS_FILE: _write_transactions(
            out_dir / TRANSACTIONS_FILE, cohort, user_ids, rng_tx, users, tx_users_share,
            tx_per_user, multi=heavy or tx_per_user > 5,
        ),
    }


def write_sample(seeds_dir: Path) -> dict[str, int]:
    """Regenerate the committed sample (`seeds/`): 2,000 users, seed 2022.

    Args:
        seeds_dir: the project's seeds directory.

    Returns:
        Data rows written per file name.
    """
    return generate_dataset(seeds_dir, users=SAMPLE_USERS, seed=SAMPLE_SEED)


# --------------------------------------------------------------------------- cohort


def _build_cohort(rng: np.random.Generator, users: int) -> dict[str, np.ndarray]:
    """Onboarding rows: users A, B, malformed (-1) then the duplicate rows, as column arrays.

    Args:
        rng: random generator of the cohort.
        users: distinct user ids.

    Returns:
        Column arrays of length users + duplicates; the first `users` rows are the distinct users.
    """
    n_b = round(users * _SELLER_SHARE)
    n_m = round(users * _MALFORMED_SHARE)
    n_a = users - n_b - n_m
    n_dup = min(round(users * _DUPLICATE_SHARE), n_a - n_m)
    n_copy = round(n_b * _SELLER_COPY_SHARE)

    a_num = _unique_ids(rng, n_a, np.empty(0, np.int64))
    copyable = np.flatnonzero(~np.isin(_seller_id(a_num), a_num))  # MLB4+digits not taken
    copy_src = np.sort(rng.choice(copyable, min(n_copy, len(copyable)), replace=False))
    n_own = n_b - len(copy_src)
    copy_num = _seller_id(a_num[copy_src])
    own_num = _unique_own_seller_ids(rng, n_own, a_num)
    if len(np.unique(np.concatenate([a_num, copy_num, own_num]))) != n_a + n_b:
        raise RuntimeError("generated user ids are not unique")
    base = _base_milestones(rng, n_a + n_own)

    take_a = np.arange(n_a)
    rows_b = np.concatenate([n_a + np.arange(n_own), copy_src])  # B copies share block-A values
    rows_m = take_a[:n_m]
    rows_d = take_a[n_m : n_m + n_dup]
    src = np.concatenate([take_a, rows_b, rows_m, rows_d])
    cohort = {key: values[src] for key, values in base.items()}

    n_rows = users + n_dup
    block = np.repeat(np.array([0, 1, 2, 3], np.int8), [n_a, n_b, n_m, n_dup])
    cohort["block"] = block
    cohort["num"] = np.concatenate([a_num, own_num, copy_num, a_num[rows_m], a_num[rows_d]])
    cohort["malformed"] = block == 2
    cohort["uid"] = np.concatenate([np.arange(users), rows_d])  # duplicates point at their user
    cohort["midnight"] = block >= 2
    stale = np.full(n_rows, -1, np.int64)
    stale[:n_a] = take_a
    stale[users:] = n_a + n_m + np.arange(n_dup)
    stale[n_a + n_b : users] = n_a + rows_m
    cohort["stale"] = stale

    m = slice(n_a + n_b, users)
    empty_habito = rng.random(n_m) < _MALFORMED_EMPTY_HABITO
    cohort["habito"][m] = np.where(empty_habito, -1, cohort["habito"][m])
    cohort["habito_dt"][m] = np.where(empty_habito, _MISSING, cohort["habito_dt"][m])
    fl = cohort["first_login"][m]
    eligible = 1 - _FIRST_LOGIN_WEIGHTS[0] / sum(_FIRST_LOGIN_WEIGHTS)  # not on 2022-01-01
    back = (rng.random(n_m) < _MALFORMED_RETURN_BEFORE / eligible) & (fl > 0)
    cohort["return_dt"][m] = np.where(back, fl - 1, cohort["return_dt"][m])
    return cohort


def _base_milestones(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """First login, milestone flags and dates (day offsets) of `n` independent users.

    Args:
        rng: random generator.
        n: number of users.

    Returns:
        Arrays first_login, habito (0/1), habito_dt, activacion_dt, setup_dt, return_dt;
        a missing date is `_MISSING`.
    """
    fl = _draw(rng, np.arange(31), _FIRST_LOGIN_WEIGHTS, n)
    cells = np.array(list(_FLAG_WEIGHTS), np.int8)
    act, setup, ret, habit = cells[_draw(rng, np.arange(len(cells)), _FLAG_WEIGHTS.values(), n)].T

    n_no_ts = min(max(1, round(n * _NO_TIMESTAMP_SHARE)), int(habit.sum()))
    act[rng.choice(np.flatnonzero(habit), n_no_ts, replace=False)] = 0

    act_d = _draw(rng, np.arange(-26, 32), _activation_delay_weights(), n)
    act_d = np.maximum(act_d, -fl)  # never before 2022-01-01
    setup_d = _draw(rng, np.arange(30), _spike_decay(30, 0.587, 1.5, 0.045), n)
    ret_d = _draw(rng, np.arange(1, 31), _spike_decay(30, 0.527, 2.5, 0.05), n)
    dropped = ret == 0
    act_d = np.where(dropped & (act_d > 0) & (rng.random(n) < 0.8), 0, act_d)
    setup_d = np.where(dropped & (setup_d > 0) & (rng.random(n) < 0.95), 0, setup_d)

    act_d = np.where(habit == 1, np.minimum(act_d, _WINDOW - 1), act_d)
    start = np.where(act == 1, np.maximum(act_d, 0), 0)
    habit_d = start + _truncated_exponential(rng, _WINDOW - start, 12.0)
    habit_d = np.where(dropped, start, habit_d)

    def dated(flag: np.ndarray, delay: np.ndarray) -> np.ndarray:
        return np.where(flag == 1, fl + delay, _MISSING).astype(np.int32)

    return {
        "first_login": fl.astype(np.int32),
        "habito": habit.astype(np.int8),
        "habito_dt": dated(habit, habit_d),
        "activacion_dt": dated(act, act_d),
        "setup_dt": dated(setup, setup_d),
        "return_dt": dated(ret, ret_d),
    }


def _activation_delay_weights() -> np.ndarray:
    """Probabilities of activacion_dt - first_login_dt for -26..31 days.

    Returns:
        58 probabilities: 8.1% before first login, 40% same day (drops add 5%), 0.45% at 31.
    """
    before = _spike_decay(26, 0.0, 2.5, 0.02)[::-1] * 0.081
    same_day, late = 0.40, 0.0045  # late: 0.28% after drops and habit clamp the rest
    after = _spike_decay(30, 0.0, 3.0, 0.061) * (1 - 0.081 - same_day - late)
    return np.concatenate([before, [same_day], after, [late]])


def _spike_decay(n: int, spike: float, tau: float, floor: float) -> np.ndarray:
    """Probabilities over n values: `spike` on the first, the rest decaying to a floor.

    Args:
        n: number of values.
        spike: probability of the first value beyond the decay.
        tau: decay length, in values.
        floor: uniform weight relative to the first decaying value.

    Returns:
        n probabilities summing to 1.
    """
    tail = np.exp(-np.arange(n - (spike > 0)) / tau) + floor
    tail = tail / tail.sum() * (1 - spike)
    return np.concatenate([[spike], tail]) if spike > 0 else tail


def _draw(rng: np.random.Generator, values: np.ndarray, weights, n: int) -> np.ndarray:
    """Draw n values with the given (unnormalised) weights.

    Args:
        rng: random generator.
        values: the values.
        weights: one weight per value.
        n: sample size.

    Returns:
        n values.
    """
    p = np.asarray(list(weights), dtype=float)
    return rng.choice(values, size=n, p=p / p.sum())


def _truncated_exponential(rng: np.random.Generator, upper: np.ndarray, tau: float) -> np.ndarray:
    """Integers in 0..upper (per element), exponentially decaying with length tau.

    Args:
        rng: random generator.
        upper: inclusive upper bounds (non-negative).
        tau: decay length.

    Returns:
        One integer per bound.
    """
    upper = np.maximum(upper, 0)
    mass = 1.0 - np.exp(-(upper + 1) / tau)
    x = -tau * np.log1p(-rng.random(upper.shape) * mass)
    return np.minimum(x.astype(np.int64), upper)


# --------------------------------------------------------------------------- ids


def _plain_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw block-A id digits: 7..11 digits, last digit 0, 11-digit ids start with 100..106.

    Args:
        rng: random generator.
        n: number of ids.

    Returns:
        int64 id numbers (not yet unique).
    """
    digits = _draw(rng, np.arange(7, 12), (5, 45, 487, 5796, 3667), n)
    low = np.where(digits == 11, 1_000_000_000, 10 ** (digits - 2))
    high = np.where(digits == 11, 1_066_600_000, 10 ** (digits - 1))
    return (low + (rng.random(n) * (high - low)).astype(np.int64)) * 10


def _unique_ids(
    rng: np.random.Generator, n: int, taken: np.ndarray, end2_share: float = 0.0
) -> np.ndarray:
    """Draw n distinct plain ids that are not in `taken`, redrawing collisions.

    Args:
        rng: random generator.
        n: number of ids.
        taken: ids that must not be drawn.
        end2_share: share of ids whose last digit is 2 instead of 0.

    Returns:
        int64 id numbers.
    """
    nums = _plain_ids(rng, n) + 2 * (rng.random(n) < end2_share)
    for _ in range(100):
        seen = np.concatenate([taken, nums])
        _, first = np.unique(seen, return_index=True)
        bad = np.ones(len(seen), bool)
        bad[first] = False
        bad = bad[len(taken) :]
        if not bad.any():
            return nums
        k = int(bad.sum())
        nums[bad] = _plain_ids(rng, k) + 2 * (rng.random(k) < end2_share)
    raise RuntimeError("could not draw unique user ids; the id space is too small")


def _seller_id(nums: np.ndarray) -> np.ndarray:
    """Prefix the digits with 4 (`MLB123` -> `MLB4123`).

    Args:
        nums: id numbers.

    Returns:
        The prefixed id numbers.
    """
    width = np.floor(np.log10(nums)).astype(np.int64) + 1
    return 4 * 10**width + nums


def _unique_own_seller_ids(rng: np.random.Generator, n: int, a_num: np.ndarray) -> np.ndarray:
    """Draw seller ids `MLB4...` with no block-A counterpart that clash with no other id.

    Args:
        rng: random generator.
        n: number of ids.
        a_num: block-A ids.

    Returns:
        int64 id numbers.
    """
    width = np.floor(np.log10(a_num)).astype(np.int64)
    lead4 = a_num // 10**width == 4
    without4 = a_num[lead4] - 4 * 10 ** width[lead4]  # "4" + these digits is a block-A id
    taken = np.concatenate([a_num, without4])
    return _seller_id(_unique_ids(rng, n, taken, _SELLER_OWN_END2_SHARE))


def _user_id_strings(num: np.ndarray, malformed: np.ndarray) -> pa.Array:
    """Format `MLB<digits>` plus the `-1` suffix where malformed.

    Args:
        num: id numbers.
        malformed: rows that get the `-1` suffix.

    Returns:
        Arrow string array.
    """
    suffix = pc.take(pa.array(["", "-1"]), pa.array(malformed.astype(np.int8)))
    return pc.binary_join_element_wise("MLB", _str(num), suffix, "")


# --------------------------------------------------------------------------- onboarding


def _write_onboarding(
    path: Path, cohort: dict[str, np.ndarray], user_ids: pa.Array, rng: np.random.Generator
) -> int:
    """Write lk_onboarding.csv with rows of all blocks shuffled.

    Args:
        path: output file.
        cohort: onboarding rows from `_build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of the row order.

    Returns:
        Rows written.
    """
    n_rows = len(cohort["uid"])
    order = rng.permutation(n_rows)
    dates = _date_table()
    weeks = pa.array([str(_iso_week(d)) for d in range(31)])
    habito_text = pa.array(["", "0.0", "1.0"])
    flag_text = pa.array(["0", "1"])
    with path.open("wb") as fh:
        _write_header(fh, ONBOARDING_COLUMNS)
        for lo in range(0, n_rows, _CHUNK_ROWS):
            rows = order[lo : lo + _CHUNK_ROWS]
            col = {key: values[rows] for key, values in cohort.items()}
            mid = col["midnight"]
            stale = pc.binary_join_element_wise(_str(col["stale"]), ".0", "")
            stale = pc.if_else(pa.array(col["stale"] < 0), "", stale)
            fields = [_str(np.arange(lo, lo + len(rows))), stale]
            fields.append(_dates(dates, col["first_login"], mid))
            fields.append(pc.take(weeks, pa.array(col["first_login"])))
            fields.append(pc.take(user_ids, pa.array(col["uid"])))
            fields.append(pc.take(habito_text, pa.array(col["habito"] + 1)))
            fields.append(_dates(dates, col["habito_dt"], mid))
            for name in ("activacion_dt", "setup_dt", "return_dt"):
                present = (col[name] != _MISSING).astype(np.int8)
                fields += [pc.take(flag_text, pa.array(present)), _dates(dates, col[name], mid)]
            _write_rows(fh, fields)
    return n_rows


def _iso_week(day: int) -> int:
    """ISO week number of a day offset from 2022-01-01.

    Args:
        day: day offset.

    Returns:
        ISO week number.
    """
    return (_EPOCH + day).astype(object).isocalendar()[1]


def _date_table() -> pa.Array:
    """Date strings for `_DAY_LO.._DAY_HI`, then '', then the same with ` 00:00:00`, then ''.

    Returns:
        Arrow string array indexed by `_dates`.
    """
    plain = np.datetime_as_string(_EPOCH + np.arange(_DAY_LO, _DAY_HI)).tolist()
    return pa.array(plain + [""] + [f"{d} 00:00:00" for d in plain] + [""])


def _dates(table: pa.Array, days: np.ndarray, midnight: np.ndarray) -> pa.Array:
    """Format day offsets (`_MISSING` = empty) as plain or midnight date strings.

    Args:
        table: `_date_table()`.
        days: day offsets.
        midnight: rows written as `YYYY-MM-DD 00:00:00`.

    Returns:
        Arrow string array.
    """
    span = _DAY_HI - _DAY_LO
    idx = np.where(days == _MISSING, span, days - _DAY_LO) + midnight * (span + 1)
    return pc.take(table, pa.array(idx.astype(np.int32)))


# --------------------------------------------------------------------------- dim_users


def _write_users(
    path: Path,
    cohort: dict[str, np.ndarray],
    user_ids: pa.Array,
    rng: np.random.Generator,
    rng_people: np.random.Generator,
    users: int,
) -> int:
    """Write dim_users.csv: one record per distinct user, shuffled, with three-line addresses.

    Args:
        path: output file.
        cohort: onboarding rows from `_build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of rubro, type and the record order.
        rng_people: random generator of the personal data.
        users: distinct users.

    Returns:
        Records written.
    """
    seller = cohort["block"][:users] == 1
    rubro = np.where(seller, rng.integers(1, 10, users), 0)
    typed = seller & (rng.random(users) < _SELLER_TYPE_SHARE)
    code = np.where(typed, rng.integers(8, 10, users), 0)
    order = rng.permutation(users)
    codes = pa.array([""] + [f"{v}.0" for v in range(1, 10)])
    with path.open("wb") as fh:
        _write_header(fh, USERS_COLUMNS)
        for lo in range(0, users, _CHUNK_ROWS):
            rows = order[lo : lo + _CHUNK_ROWS]
            fields = [_str(np.arange(lo, lo + len(rows))), pc.take(user_ids, pa.array(rows))]
            fields += _people(rng_people, len(rows))
            fields += [pc.take(codes, pa.array(code[rows])), pc.take(codes, pa.array(rubro[rows]))]
            _write_rows(fh, fields)
    return users


def _people(rng: np.random.Generator, n: int) -> list[pa.Array]:
    """Faker-like pt_BR personal data: name, e-mail, quoted address, birth date, phone.

    Args:
        rng: random generator.
        n: number of people.

    Returns:
        Five Arrow string arrays, in `USERS_COLUMNS` order.
    """
    t = _word_tables()
    n_first, n_last = len(_MALE) + len(_FEMALE), len(_SURNAMES)

    male = rng.random(n) < 0.5
    female_first = len(_MALE) + rng.integers(0, len(_FEMALE), n)
    first = np.where(male, rng.integers(0, len(_MALE), n), female_first)
    titled = rng.random(n) < _NAME_PREFIX_SHARE
    title = np.where(titled, np.where(male, rng.integers(1, 3, n), rng.integers(3, 6, n)), 0)
    name = pc.binary_join_element_wise(
        _take(t["title"], title), _take(t["first"], first), _take(t["last"], _int(rng, n_last, n)),
        " ",
    )  # fmt: skip
    name = pc.utf8_ltrim(name, " ")  # no title: drop the leading separator

    # e-mail of an unrelated random name: first+last, last+first, initial+last or first+NN
    pattern = rng.integers(0, 4, n)
    f2, l2 = _int(rng, n_first, n), _int(rng, n_last, n)
    head = np.choose(pattern, [f2, n_first + l2, n_first + n_last + f2, f2])
    tail = np.choose(pattern, [l2, n_last + f2, l2, n_last + n_first + _int(rng, 100, n)])
    email = pc.binary_join_element_wise(
        _take(t["email_head"], head), _take(t["email_tail"], tail), "@",
        _take(t["domain"], _int(rng, 3, n)), "",
    )  # fmt: skip

    street_first = 2 + _int(rng, n_first, n)
    lead = np.choose(_int(rng, 3, n), [np.zeros(n, np.int64), np.ones(n, np.int64), street_first])
    number = np.where(
        rng.random(n) < 0.85,
        np.choose(_draw(rng, np.arange(3), (15, 60, 25), n), [
            rng.integers(1, 10, n), rng.integers(10, 100, n), rng.integers(100, 1000, n)]),
        0,
    )  # fmt: skip
    cep = pc.binary_join_element_wise(
        _take(_padded(5), _int(rng, 100_000, n)), _take(t["cep_sep"], _int(rng, 2, n)),
        _take(_padded(3), _int(rng, 1000, n)), "",
    )  # fmt: skip
    address = pc.binary_join_element_wise(
        '"', _take(t["street_type"], _int(rng, len(_STREET_TYPES), n)), " ",
        _take(t["street_lead"], lead), _take(t["last"], _int(rng, n_last, n)),
        _take(t["house_number"], number), "\n",
        _take(t["neighbourhood"], _int(rng, len(_NEIGHBOURHOODS), n)), "\n", cep, " ",
        _take(t["last"], _int(rng, n_last, n)),
        _take(t["city_suffix"], _int(rng, len(_CITY_SUFFIXES), n)), " / ",
        _take(t["state"], _int(rng, len(_STATES), n)), '"', "",
    )  # fmt: skip

    birth = _take(t["birth"], _int(rng, len(t["birth"]), n))

    fmt = _draw(rng, np.arange(len(t["phone_sep"])), t["phone_weight"], n)
    regular = fmt < len(_PHONE_FORMATS)
    phone_head = np.where(
        regular,
        fmt * len(_AREA_CODES) + _int(rng, len(_AREA_CODES), n),
        len(_PHONE_FORMATS) * len(_AREA_CODES)
        + (fmt - len(_PHONE_FORMATS)) * len(_TOLL_FREE) + _int(rng, len(_TOLL_FREE), n),
    )  # fmt: skip
    middle = np.where(regular, _int(rng, 10_000, n), 10_000 + _int(rng, 1000, n))
    phone = pc.binary_join_element_wise(
        _take(t["phone_head"], phone_head), _take(t["phone_middle"], middle),
        _take(t["phone_sep"], fmt), _take(_padded(4), _int(rng, 10_000, n)), "",
    )  # fmt: skip
    return [name, email, address, birth, phone]


def _word_tables() -> dict[str, pa.Array]:
    """Lookup tables for `_people`, built once.

    Returns:
        Arrow string arrays (plus `phone_weight`, a tuple) by name.
    """
    if _TABLES:
        return _TABLES
    first = _MALE + _FEMALE
    first_slug = [_slug(v) for v in first]
    last_slug = [_slug(v) for v in _SURNAMES]
    birth_days = np.arange(_BIRTH_FIRST, _BIRTH_LAST + 1)
    regular_heads = [tpl.format(area) for tpl, _, _ in _PHONE_FORMATS for area in _AREA_CODES]
    toll_heads = [tpl.format(code) for tpl, _, _ in _TOLL_FREE_FORMATS for code in _TOLL_FREE]
    phone_formats = _PHONE_FORMATS + _TOLL_FREE_FORMATS
    _TABLES.update(
        title=pa.array(["", "Sr.", "Dr.", "Sra.", "Dra.", "Srta."]),
        first=pa.array(first),
        last=pa.array(_SURNAMES),
        email_head=pa.array(first_slug + last_slug + [v[0] for v in first_slug]),
        email_tail=pa.array(last_slug + first_slug + [f"{v:02d}" for v in range(100)]),
        domain=pa.array(_EMAIL_DOMAINS),
        street_type=pa.array(_STREET_TYPES),
        street_lead=pa.array(["", "de "] + [f"{v} " for v in first]),
        house_number=pa.array([""] + [f", {v}" for v in range(1, 1000)]),
        neighbourhood=pa.array(_NEIGHBOURHOODS),
        cep_sep=pa.array(["", "-"]),
        city_suffix=pa.array(_CITY_SUFFIXES),
        state=pa.array(_STATES),
        birth=pa.array(np.datetime_as_string(birth_days).tolist()),
        phone_head=pa.array(regular_heads + toll_heads),
        phone_middle=pa.concat_arrays([_padded(4), _padded(3)]),
        phone_sep=pa.array([sep for _, sep, _ in phone_formats]),
        phone_weight=tuple(w for _, _, w in phone_formats),
    )
    return _TABLES


_TABLES: dict = {}
_PADDED: dict[int, pa.Array] = {}


def _padded(width: int) -> pa.Array:
    """Zero-padded decimal strings `0..10**width - 1`.

    Args:
        width: number of digits.

    Returns:
        Arrow string array.
    """
    if width not in _PADDED:
        _PADDED[width] = pa.array([f"{v:0{width}d}" for v in range(10**width)])
    return _PADDED[width]


def _slug(text: str) -> str:
    """E-mail form of a name: ASCII, lower case, spaces as dashes (`João Pedro` -> `joao-pedro`).

    Args:
        text: a name.

    Returns:
        The slug.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return ascii_text.lower().replace(" ", "-")


# --------------------------------------------------------------------------- transactions


def _write_transactions(
    path: Path,
    cohort: dict[str, np.ndarray],
    user_ids: pa.Array,
    rng: np.random.Generator,
    users: int,
    tx_users_share: float | None,
    tx_per_user: int,
    multi: bool,
) -> int:
    """Write bt_users_transactions.csv.

    Args:
        path: output file.
        cohort: onboarding rows from `_build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of the transactions.
        users: distinct users.
        tx_users_share: share of users with transactions; None = the users with habito = 1.
        tx_per_user: transactions per user (exact), or their mean when `multi`.
        multi: spread each user's transactions over several days.

    Returns:
        Rows written.
    """
    habito = cohort["habito"][:users]
    with_habit = np.flatnonzero(habito == 1)
    if tx_users_share is None:
        chosen = with_habit
    else:
        n_tx = round(tx_users_share * users)
        if n_tx <= len(with_habit):
            chosen = np.sort(rng.choice(with_habit, n_tx, replace=False))
        else:
            others = np.flatnonzero(habito != 1)
            extra = rng.choice(others, n_tx - len(with_habit), replace=False)
            chosen = np.sort(np.concatenate([with_habit, extra]))
    chosen = rng.permutation(chosen)  # user order of the chunks; rows are shuffled per chunk
    n = len(chosen)

    fl = cohort["first_login"][chosen]
    act_dt = cohort["activacion_dt"][chosen]
    activated = act_dt != _MISSING
    act = np.where(activated, act_dt - fl, 0)
    has_habit = habito[chosen] == 1
    seller = cohort["block"][chosen] == 1
    no_ts = has_habit & ~activated
    start = np.clip(np.maximum(act, 0), 0, _WINDOW - 1)
    room = _WINDOW - start

    # one anchor day per user: a few days before habito_dt, else anywhere after activation
    habit_day = np.where(has_habit, cohort["habito_dt"][chosen] - fl, 0)
    back = _draw(rng, np.arange(len(_TX_BEFORE_HABIT_WEIGHTS)), _TX_BEFORE_HABIT_WEIGHTS, n)
    anywhere = start + (rng.random(n) * room).astype(np.int64)
    anchor = np.clip(np.where(has_habit, habit_day - back, anywhere), start, _WINDOW - 1)
    candidates = np.flatnonzero(activated & (act < 0) & ~no_ts)  # activated before first login
    k = min(len(candidates), max(1, round(n * _BEFORE_LOGIN_SHARE)))
    before = np.zeros(n, bool)
    before[rng.choice(candidates, k, replace=False)] = True
    anchor = np.where(before, -1 - (rng.random(n) * np.minimum(-act, 5)).astype(np.int64), anchor)
    single = no_ts | before

    if multi:
        count = 1 + rng.poisson(tx_per_user - 1, n)
        days = np.minimum(np.minimum(count, room), 1 + (rng.random(n) ** 2 * room).astype(np.int64))
    else:
        count = np.full(n, tx_per_user)
        days = np.ones(n, np.int64)
        candidates = np.flatnonzero(~seller & ~single & (room > 5))
        k = min(len(candidates), max(_MULTI_DAY_MIN, round(_MULTI_DAY_SHARE * len(candidates))))
        picked = rng.choice(candidates, k, replace=False)
        days[picked] = np.where(np.arange(k) < (k + 1) // 2, 5, 3)  # half reach 5 distinct days
        days = np.minimum(days, count)
    days = np.where(single, 1, np.maximum(days, 1))

    pool_size = _HEAVY_TIME_POOL if multi else _TX_TIME_POOL
    stamps = _timestamp_table(rng, pool_size)
    user_time = _time_of_day(rng, n, pool_size)
    digits = pa.array([str(v) for v in range(10)])

    ends = np.cumsum(count)
    written, lo = 0, 0
    with path.open("wb") as fh:
        _write_header(fh, TRANSACTIONS_COLUMNS)
        while lo < n:
            first_row = ends[lo - 1] if lo else 0
            hi = max(lo + 1, int(np.searchsorted(ends, first_row + _TX_CHUNK_ROWS, side="right")))
            owner = np.repeat(np.arange(lo, hi), count[lo:hi])
            total = len(owner)
            pos = np.arange(total) - np.repeat(ends[lo:hi] - count[lo:hi] - first_row, count[lo:hi])

            day = anchor[owner]
            spread = np.flatnonzero(days[lo:hi] > 1) + lo
            if len(spread):
                keys = rng.random((len(spread), _WINDOW))
                keys[np.arange(_WINDOW)[None, :] < start[spread][:, None]] = 2.0
                offsets = np.argsort(keys, axis=1)  # valid days first, in random order
                slot = np.full(hi - lo, -1)
                slot[spread - lo] = np.arange(len(spread))
                rows = slot[owner - lo]
                m = rows >= 0
                day[m] = offsets[rows[m], pos[m] % days[owner[m]]]

            per_row = multi | (days[owner] > 1)
            tod = np.where(per_row, _time_of_day(rng, total, pool_size), user_time[owner])
            stamp = (fl[owner] + day - _DAY_LO) * (pool_size + 1) + tod
            stamp = np.where(no_ts[owner], len(stamps) - 1, stamp)
            is_seller = seller[owner]
            r = rng.random(total)
            kind = np.where(is_seller, 8 + (r * 2).astype(np.int64), 1 + (r * 7).astype(np.int64))

            shuffle = rng.permutation(total)
            owner, stamp = owner[shuffle], stamp[shuffle]
            kind, is_seller = kind[shuffle], is_seller[shuffle]
            _write_rows(fh, [
                _str(np.arange(written, written + total)),
                pc.take(user_ids, pa.array(chosen[owner])),
                pc.take(stamps, pa.array(stamp)),
                pc.take(digits, pa.array(kind)),
                pc.take(digits, pa.array(1 + is_seller.astype(np.int64))),
            ])  # fmt: skip
            written += total
            lo = hi
    return written


def _time_of_day(rng: np.random.Generator, n: int, pool_size: int) -> np.ndarray:
    """Indexes into the time-of-day pool; 0 (midnight) for about a tenth.

    Args:
        rng: random generator.
        n: number of draws.
        pool_size: times of day besides midnight.

    Returns:
        int64 indexes in 0..pool_size.
    """
    return np.where(rng.random(n) < _MIDNIGHT_SHARE, 0, rng.integers(1, pool_size + 1, n))


def _timestamp_table(rng: np.random.Generator, pool_size: int) -> pa.Array:
    """Nanosecond timestamp strings: every day of the calendar × midnight and the pool, then ''.

    Args:
        rng: random generator (draws the pool of times of day).
        pool_size: times of day besides midnight.

    Returns:
        Arrow string array indexed by `(day - _DAY_LO) * (pool_size + 1) + time`.
    """
    nanos = np.sort(rng.integers(1, 86_400 * 10**9, pool_size))
    seconds, frac = np.divmod(nanos, 10**9)
    times = ["00:00:00.000000000"] + [
        f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{f:09d}"
        for s, f in zip(seconds.tolist(), frac.tolist())
    ]
    dates = np.datetime_as_string(_EPOCH + np.arange(_DAY_LO, _DAY_HI)).tolist()
    day_col = pa.array(np.repeat(dates, len(times)).tolist())
    time_col = pa.array(times * len(dates))
    return pa.concat_arrays([pc.binary_join_element_wise(day_col, time_col, " "), pa.array([""])])


# --------------------------------------------------------------------------- writing


def _int(rng: np.random.Generator, high: int, n: int) -> np.ndarray:
    """Uniform integers in 0..high-1.

    Args:
        rng: random generator.
        high: exclusive upper bound.
        n: number of draws.

    Returns:
        int64 array.
    """
    return rng.integers(0, high, n)


def _take(table: pa.Array, idx: np.ndarray) -> pa.Array:
    """Look strings up by index.

    Args:
        table: Arrow string array.
        idx: indexes.

    Returns:
        Arrow string array.
    """
    return pc.take(table, pa.array(idx))


def _str(values: np.ndarray) -> pa.Array:
    """Decimal strings of integers.

    Args:
        values: integers.

    Returns:
        Arrow string array.
    """
    return pc.cast(pa.array(values), pa.string())


def _write_header(fh, columns: tuple[str, ...]) -> None:
    """Write a header line (none of the header names needs quoting).

    Args:
        fh: binary file.
        columns: column names.
    """
    fh.write((",".join(columns) + "\n").encode())


def _write_rows(fh, fields: list[pa.Array]) -> None:
    """Write rows of already formatted (and, where needed, quoted) fields as CSV lines.

    Args:
        fh: binary file.
        fields: Arrow string arrays of equal length, one per column.
    """
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "", "\n")
    if lines.null_count:
        raise ValueError("a CSV field is null")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    fh.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
