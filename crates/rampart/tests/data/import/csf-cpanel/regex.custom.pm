#!/usr/bin/perl
###############################################################################
# Test fixture in regex.custom.pm's shape: a tuned server's custom rules.
###############################################################################
sub custom_line {
        my $line = shift;
        my $lgfile = shift;

# Your custom regex rules go here

# Failed logins to the customers' PHP application
        if (($globlogs{CUSTOM1_LOG}{$lgfile}) and ($line =~ /^\S+\s+\S+\s+app\[\d+\]: login failed for \S+ from (\S+)/)) {
               return ("Failed app login from",$1,"applogin","5","80,443","1");
        }

# WordPress xmlrpc floods in the Apache access log
        if (($lgfile eq $config{HTACCESS_LOG}) and ($line =~ /^(\S+) .*"POST \/xmlrpc\.php/)) {
               return ("WordPress XMLRPC abuse from",$1,"xmlrpc","20","80,443","3600");
        }

        return 0;
}

1;
