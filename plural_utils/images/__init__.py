"""Image-domain experiments E3 (Sec. 4.2, Appendix C.5) and E10 (Appendix C.8).

``data``     loaders: scikit-learn digits (smoke), Fashion-MNIST (cpu), CIFAR-10 binary (paper)
``models``   classifiers (small CNN, VGG11), the torchcfm UNet flow, training and sampling
``rewards``  classifier rewards ``r(x) = gamma * pi_i(x)``, learned reward nets, paper reward loaders
``metrics``  FID, class entropy, KL to uniform, feature and intra-class variance, leakage proxy
"""
