"""The 3D-aware generative network's learned part (paper Sec. 3.4, 4.2-4.4).

Modules (torch is imported by them, not by this package, so ``import toolkit`` stays light):

* :mod:`~toolkit.generator.config` - typed configs (small CPU model, paper-scale model, ablations)
* :mod:`~toolkit.generator.embedding` - hybrid embedding module (E_A, E_I, E_L, E_F; Eq. 3-7)
* :mod:`~toolkit.generator.composition` - flow networks, dynamic/fixed encoders, SPADE decoder G
* :mod:`~toolkit.generator.model` - :class:`~toolkit.generator.model.Generator`
* :mod:`~toolkit.generator.discriminator`, :mod:`~toolkit.generator.losses` - Eq. (8)
* :mod:`~toolkit.generator.landmark_image` - 68 landmarks -> grey-scale landmark image
* :mod:`~toolkit.generator.data`, :mod:`~toolkit.generator.train` - `toolkit train generator` (the GAN step and
  GeneratorTask, run by the one training loop ``toolkit.learners.train.train``)
* :mod:`~toolkit.generator.checkpoint` - ``load_generator()`` (the shipped weights by default)
"""
