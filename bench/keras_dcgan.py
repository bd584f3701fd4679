"""The baseline GAN: the keras.io example "DCGAN to generate face images", as written there.

The example (fchollet, keras.io/examples/generative/dcgan_overriding_train_step) trains its
networks with ``fit()`` and a ``train_step`` that uses TensorFlow's ``GradientTape``: one
discriminator update on a concatenated batch of generated and real images with noisy labels,
then one generator update. The benchmark gives it the package's two networks (the report's
generator and discriminator) and the same batches, so any difference in steps per second is
the cost of the package's own ``train_step`` and ``train_gan`` machinery.

TensorFlow backend only, like the example.
"""

from __future__ import annotations

__all__ = ["keras_example_gan"]  # and KerasExampleGAN, built on first access


def _model_class():
    import keras
    import tensorflow as tf
    from keras import ops

    class KerasExampleGAN(keras.Model):
        """The keras.io DCGAN example's ``GAN`` class (TensorFlow ``GradientTape`` step)."""

        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)

        def compile(self, d_optimizer, g_optimizer, loss_fn, **kwargs):
            super().compile(**kwargs)
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            # The one change to the example: a PyDataset batch arrives as a tuple `(x,)`.
            real_images, _, _ = keras.utils.unpack_x_y_sample_weight(real_images)
            # Sample random points in the latent space and decode them to fake images.
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            generated_images = self.generator(random_latent_vectors)
            combined_images = ops.concatenate([generated_images, real_images], axis=0)
            # Labels: 1 for fake, 0 for real, plus noise ("important trick!" in the example).
            labels = ops.concatenate(
                [ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
            labels += 0.05 * tf.random.uniform(tf.shape(labels))

            # Train the discriminator.
            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

            # Train the generator (the discriminator's weights must not move).
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            misleading_labels = ops.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(),
                    "g_loss": self.g_loss_metric.result()}

    return KerasExampleGAN


def __getattr__(name: str):
    # The class needs TensorFlow; build it only when asked for.
    if name == "KerasExampleGAN":
        return _model_class()
    raise AttributeError(name)


def keras_example_gan(generator, discriminator, *, learning_rate: float = 1e-4,
                      jit_compile: bool | str = "auto"):
    """The example's GAN around ``generator`` and ``discriminator``, compiled as the report did.

    The example uses Adam(1e-4) for both networks and binary cross-entropy, which is also the
    report's training (the example's default learning rate).
    """
    import keras

    gan = _model_class()(discriminator=discriminator, generator=generator,
                         latent_dim=int(generator.inputs[0].shape[-1]))
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate),
                g_optimizer=keras.optimizers.Adam(learning_rate),
                loss_fn=keras.losses.BinaryCrossentropy(), jit_compile=jit_compile)
    return gan
