"""Hostile equation text: the parser returns a spec or raises an annsnn error, nothing else."""
import string

from hypothesis import HealthCheck, given, settings, strategies as st

from annsnn import AnnsnnError, Neuron

ALPHABET = string.ascii_letters[:12] + string.digits + " +-*/^()=<>!:;,.#_\n\t" + "dtgvu"
TOKENS = st.sampled_from(["v", "u", "dv/dt", "g_exc", "tau", "=", "+", "-", "*", "/", "^", "(", ")", ":",
                          "init=", "min=", "exponential", "population", "exp(", "ite(", ",", "1.5", "0",
                          "Uniform(", "lambda", "class", "t", "dt", ">", "and", "not", ";", "\n", "#", "1e999",
                          "__import__", "'", "[", "]", "{", "}", "@", "lambda x: x", "\\"])


def check(**fields):
    try:
        Neuron(name="fuzz", **fields)
    except AnnsnnError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=80), st.text(alphabet=ALPHABET, max_size=40))
def test_random_characters(equations, spike):
    check(parameters="tau = 10", equations=equations, spike=spike or None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=25), st.lists(TOKENS, max_size=12), st.lists(TOKENS, max_size=12))
def test_random_token_soup(equations, parameters, reset):
    check(parameters=" ".join(parameters), equations=" ".join(equations), spike="v > 1", reset=" ".join(reset))


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode(text):
    check(equations=text)
    check(parameters=text)
    check(equations="dv/dt = 1", spike=text)
