"""The DCGAN's train step on JAX and PyTorch: the engine behind :meth:`DCGAN.train_step`.

Each does what the TensorFlow step does, as the Keras 3 guides "Customizing what happens in
``fit()``" show it: on JAX as pure functions with every variable threaded through, on PyTorch
with ``.backward()``. The module knows the GAN only through its attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops


def train_step(gan, *args):
    """One discriminator update, then one generator update, on the active non-TF backend.

    Args:
        gan: The :class:`~celeba_lab.gan.DCGAN`.
        *args: What Keras' trainer passes: ``(state, data)`` on JAX, ``(data,)`` on PyTorch.

    Returns:
        The logs (JAX: and the new state), as Keras' trainer for the backend expects.

    Raises:
        NotImplementedError: a backend without a GAN train step.

    Example:
        >>> gan = cl.build_gan(width=0.125)              # its fit() dispatches here off TF
        >>> logs = gan.fit(np.zeros((8, 64, 64, 3), "float32"), batch_size=8, epochs=1, verbose=0)
    """
    backend = keras.backend.backend()
    if backend == "jax":
        return _train_step_jax(gan, *args)
    if backend == "torch":
        return _train_step_torch(gan, *args)
    raise NotImplementedError(f"No GAN train step for the {backend!r} Keras backend.")


class OptimizerPair:
    """What ``fit()`` sees as ``model.optimizer``: the two optimizers as one list of variables.

    Keras' JAX trainer threads ``model.optimizer.variables`` through the stateless train step;
    listing both optimizers' variables here lets a two-optimizer GAN train with ``fit()``.

    Args:
        gan: The :class:`~celeba_lab.gan.DCGAN` owning ``d_optimizer`` and ``g_optimizer``.
    """

    def __init__(self, gan):
        self._gan = gan
        gan._jax_layout = None  # the JAX step's index of the variables, made on first use

    @property
    def built(self) -> bool:
        return self._gan.d_optimizer.built and self._gan.g_optimizer.built

    def build(self, variables=None) -> None:
        gan = self._gan
        if not gan.d_optimizer.built:
            gan.d_optimizer.build(gan.discriminator.trainable_variables)
        if not gan.g_optimizer.built:
            gan.g_optimizer.build(gan.generator.trainable_variables)

    @property
    def variables(self) -> list:
        return list(self._gan.d_optimizer.variables) + list(self._gan.g_optimizer.variables)

    def scale_loss(self, loss):
        return loss


# The pieces both steps share ----------------------------------------------------------------

def _noise(gan, batch_size):
    return keras.random.normal((batch_size, gan.latent_dim), seed=gan.noise_seeds)


def _with(gan, x, conditions):  # a conditional GAN's networks also see the attributes
    return [x, conditions] if gan.conditional else x


def _update_metrics(gan, d_loss, g_loss, real_pred, fake_pred) -> dict:
    gan.d_loss_tracker.update_state(ops.stop_gradient(d_loss))
    gan.g_loss_tracker.update_state(ops.stop_gradient(g_loss))
    real_pred, fake_pred = ops.stop_gradient(real_pred), ops.stop_gradient(fake_pred)
    gan.real_accuracy.update_state(ops.mean(ops.cast(real_pred > 0.5, "float32")))
    gan.fake_accuracy.update_state(ops.mean(ops.cast(fake_pred < 0.5, "float32")))
    return {m.name: m.result() for m in gan.metrics}


# PyTorch -----------------------------------------------------------------------------------

def _train_step_torch(gan, data):
    import torch

    real, conditions = gan._unpack(data)
    real = ops.convert_to_tensor(real)
    conditions = None if conditions is None else ops.convert_to_tensor(conditions)
    batch_size = real.shape[0]

    # 1. Discriminator step: the generated batch is a constant here (no generator graph).
    with torch.no_grad():
        fake = gan.generator(_with(gan, _noise(gan, batch_size), conditions), training=True)
    gan.zero_grad()
    real_pred = gan.discriminator(_with(gan, real, conditions), training=True)
    fake_pred = gan.discriminator(_with(gan, fake, conditions), training=True)
    d_loss = gan._discriminator_loss(real_pred, fake_pred)
    d_loss.backward()
    grads = [v.value.grad for v in gan.discriminator.trainable_weights]
    with torch.no_grad():
        gan.d_optimizer.apply(grads, gan.discriminator.trainable_weights)

    # 2. Generator step: gradients flow through D into G, but only G's weights are applied.
    gan.zero_grad()
    fake = gan.generator(_with(gan, _noise(gan, batch_size), conditions), training=True)
    g_loss = gan._generator_loss(gan.discriminator(_with(gan, fake, conditions), training=True))
    g_loss.backward()
    grads = [v.value.grad for v in gan.generator.trainable_weights]
    with torch.no_grad():
        gan.g_optimizer.apply(grads, gan.generator.trainable_weights)
    gan.zero_grad()

    return _update_metrics(gan, d_loss, g_loss, real_pred, fake_pred)


# JAX ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    # Positions of each network's variables in the GAN's flat state lists.
    g_trainable: list[int]
    d_trainable: list[int]
    g_non_trainable: list[int]
    d_non_trainable: list[int]
    seed: int


def _layout(gan) -> _Layout:
    if getattr(gan, "_jax_layout", None) is None:
        def positions(everything, part):
            index = {id(v): i for i, v in enumerate(everything)}
            return [index[id(v)] for v in part]

        gan._jax_layout = _Layout(
            g_trainable=positions(gan.trainable_variables, gan.generator.trainable_variables),
            d_trainable=positions(gan.trainable_variables,
                                  gan.discriminator.trainable_variables),
            g_non_trainable=positions(gan.non_trainable_variables,
                                      gan.generator.non_trainable_variables),
            d_non_trainable=positions(gan.non_trainable_variables,
                                      gan.discriminator.non_trainable_variables),
            seed=positions(gan.non_trainable_variables, [gan.noise_seeds.state])[0],
        )
    return gan._jax_layout


def _train_step_jax(gan, state, data):
    import jax

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    real, conditions = gan._unpack(data)
    batch_size = real.shape[0]
    at = _layout(gan)
    g_train = [trainable[i] for i in at.g_trainable]
    d_train = [trainable[i] for i in at.d_trainable]
    g_state = [non_trainable[i] for i in at.g_non_trainable]
    d_state = [non_trainable[i] for i in at.d_non_trainable]
    n_d_opt = len(gan.d_optimizer.variables)
    d_opt, g_opt = optimizer_vars[:n_d_opt], optimizer_vars[n_d_opt:]

    # Noise comes from the model's noise seeds, whose state is threaded through.
    with keras.StatelessScope(
            state_mapping=[(gan.noise_seeds.state, non_trainable[at.seed])]) as scope:
        d_noise, g_noise = _noise(gan, batch_size), _noise(gan, batch_size)
    seed_state = scope.get_current_value(gan.noise_seeds.state)

    # 1. Discriminator step: differentiate D's loss with respect to D's weights only.
    fake, g_state = gan.generator.stateless_call(
        g_train, g_state, _with(gan, d_noise, conditions), training=True)

    def d_loss_fn(d_train, d_state):
        real_pred, d_state = gan.discriminator.stateless_call(
            d_train, d_state, _with(gan, real, conditions), training=True)
        fake_pred, d_state = gan.discriminator.stateless_call(
            d_train, d_state, _with(gan, fake, conditions), training=True)
        return gan._discriminator_loss(real_pred, fake_pred), (real_pred, fake_pred, d_state)

    (d_loss, (real_pred, fake_pred, d_state)), grads = jax.value_and_grad(
        d_loss_fn, has_aux=True)(d_train, d_state)
    d_train, d_opt = gan.d_optimizer.stateless_apply(d_opt, grads, d_train)

    # 2. Generator step: differentiate with respect to G's weights; D's are constants.
    def g_loss_fn(g_train, g_state, d_state):
        fake, g_state = gan.generator.stateless_call(
            g_train, g_state, _with(gan, g_noise, conditions), training=True)
        fake_pred, d_state = gan.discriminator.stateless_call(
            d_train, d_state, _with(gan, fake, conditions), training=True)
        return gan._generator_loss(fake_pred), (g_state, d_state)

    (g_loss, (g_state, d_state)), grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(g_train, g_state, d_state)
    g_train, g_opt = gan.g_optimizer.stateless_apply(g_opt, grads, g_train)

    # Metrics are updated statelessly too, as Keras' own JAX trainer does.
    with keras.StatelessScope(
            state_mapping=list(zip(gan.metrics_variables, metrics_vars))) as scope:
        logs = _update_metrics(gan, d_loss, g_loss, real_pred, fake_pred)
    metrics_vars = [scope.get_current_value(v) for v in gan.metrics_variables]

    trainable, non_trainable = list(trainable), list(non_trainable)
    for positions, values, target in ((at.g_trainable, g_train, trainable),
                                      (at.d_trainable, d_train, trainable),
                                      (at.g_non_trainable, g_state, non_trainable),
                                      (at.d_non_trainable, d_state, non_trainable)):
        for i, value in zip(positions, values):
            target[i] = value
    non_trainable[at.seed] = seed_state
    return logs, (trainable, non_trainable, list(d_opt) + list(g_opt), metrics_vars)


__all__: list[str] = []
